#include "api/model/machine_config.hpp"

#include "api/model/codec.hpp"
#include "vmm/config.hpp"
#include "vmm/core/layout.hpp"

#include <array>

namespace ember::api::model {
namespace {

enum class CpuTemplate { kNone, kC3, kT2, kT2S, kT2CL, kT2A, kV1N1 };
constexpr std::array<EnumName<CpuTemplate>, 7> kCpuTemplates{{
    {"None", CpuTemplate::kNone},
    {"C3", CpuTemplate::kC3},
    {"T2", CpuTemplate::kT2},
    {"T2S", CpuTemplate::kT2S},
    {"T2CL", CpuTemplate::kT2CL},
    {"T2A", CpuTemplate::kT2A},
    {"V1N1", CpuTemplate::kV1N1},
}};

enum class HugePages { kNone, kTransparent, k2M };
constexpr std::array<EnumName<HugePages>, 3> kHugePages{{
    {"None", HugePages::kNone},
    {"Transparent", HugePages::kTransparent},
    {"2M", HugePages::k2M},
}};

constexpr UintRange kVcpus{1, VmConfig::kMaxVcpus};
constexpr UintRange kMemMib{VmConfig::kMinMemMib, layout::kMaxMemMib};
constexpr std::array<std::string_view, 6> kFields{
    "vcpu_count", "mem_size_mib", "smt", "cpu_template", "track_dirty_pages", "huge_pages"};

// The fields whose Firecracker values ember takes but whose features it lacks.
void read_feature_fields(ObjectReader& r) {
    if (r.optional_bool("smt").value_or(false))
        r.fail("smt true is not supported by ember (guests see one thread per core); set false "
               "or leave it out");
    if (r.optional_bool("track_dirty_pages").value_or(false))
        r.fail("track_dirty_pages true is not supported by ember (it has no snapshots yet); set "
               "false or leave it out");
    if (const auto t = r.optional_enum("cpu_template", kCpuTemplates);
        t && *t != CpuTemplate::kNone)
        r.fail("cpu_template \"{}\" is not supported by ember (it has no CPU templates; guests "
               "see the host CPU as KVM reports it); use \"None\" or leave it out",
               enum_name(kCpuTemplates, *t));
    if (const auto h = r.optional_enum("huge_pages", kHugePages); h && *h != HugePages::kNone)
        r.fail("huge_pages \"{}\" is not supported by ember (guest memory is backed by 4 KiB "
               "pages); use \"None\" or leave it out",
               enum_name(kHugePages, *h));
}

} // namespace

Result<MachineConfig> decode_machine_config(const Json& value, const std::string& where) {
    ObjectReader r(value, where, kFields);
    MachineConfig config;
    config.vcpu_count = static_cast<uint32_t>(r.required_uint("vcpu_count", kVcpus));
    config.mem_size_mib = r.required_uint("mem_size_mib", kMemMib);
    read_feature_fields(r);
    EMBER_TRY_VOID(r.finish());
    return config;
}

Result<MachineConfigUpdate> decode_machine_config_update(const Json& value,
                                                         const std::string& where) {
    ObjectReader r(value, where, kFields);
    if (r.ok() && r.present_count() == 0)
        r.fail("the PATCH body sets no field; send at least one of vcpu_count, mem_size_mib, "
               "smt, cpu_template, track_dirty_pages, huge_pages");
    MachineConfigUpdate update;
    if (const auto n = r.optional_uint("vcpu_count", kVcpus))
        update.vcpu_count = static_cast<uint32_t>(*n);
    update.mem_size_mib = r.optional_uint("mem_size_mib", kMemMib);
    read_feature_fields(r);
    EMBER_TRY_VOID(r.finish());
    return update;
}

Json encode(const MachineConfig& config) {
    return Json{{"vcpu_count", config.vcpu_count},
                {"mem_size_mib", config.mem_size_mib},
                {"smt", false},
                {"track_dirty_pages", false},
                {"huge_pages", "None"}};
}

Result<MachineConfig> parse_machine_config(std::string_view body) {
    return decode_body(body, "machine-config", decode_machine_config);
}

Result<MachineConfigUpdate> parse_machine_config_update(std::string_view body) {
    return decode_body(body, "machine-config", decode_machine_config_update);
}

std::string to_json(const MachineConfig& config) {
    return dump(encode(config));
}

std::string to_json(const MachineConfigUpdate& update) {
    Json j = Json::object();
    if (update.vcpu_count) j["vcpu_count"] = *update.vcpu_count;
    if (update.mem_size_mib) j["mem_size_mib"] = *update.mem_size_mib;
    return dump(j);
}

} // namespace ember::api::model
