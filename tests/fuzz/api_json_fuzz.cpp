// libFuzzer target: the API's JSON bodies and the config file. The input goes to every parser
// (each resource's PUT and PATCH body, the actions, the config document) and to the id check.
// Beyond "no crash, no exception, no sanitizer report", it checks what the models promise:
// - a body that parses writes back (to_json) to JSON that parses to the same model;
// - a config document that applies writes back (GET /vm/config) to a document that applies
//   to the same configuration, byte for byte;
// - every error message is valid UTF-8, so it can go into a fault_message reply.
#include "api/model/actions.hpp"
#include "api/model/boot_source.hpp"
#include "api/model/config_file.hpp"
#include "api/model/drive.hpp"
#include "api/model/entropy.hpp"
#include "api/model/ids.hpp"
#include "api/model/logger.hpp"
#include "api/model/machine_config.hpp"
#include "api/model/metrics.hpp"
#include "api/model/network_interface.hpp"
#include "api/model/serial.hpp"
#include "api/model/vsock.hpp"

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <type_traits>

namespace {

using namespace ember::api::model; // NOLINT(google-build-using-namespace): a test driver

void check_message(const ember::Error& error) {
    // dump() throws on invalid UTF-8 with the default handler; an exception here is a bug.
    (void)nlohmann::json(error.message()).dump();
    if (error.code() != ember::Errc::kInvalidArgument) std::abort();
}

template <class T>
void round_trip(std::string_view body, ember::Result<T> (*parse)(std::string_view)) {
    auto model = parse(body);
    if (!model) {
        check_message(model.error());
        return;
    }
    // A PATCH that changes nothing ({"smt": false}) writes "{}", which is no PATCH at all.
    if constexpr (std::is_same_v<T, MachineConfigUpdate>)
        if (*model == MachineConfigUpdate{}) return;
    auto again = parse(to_json(*model));
    if (!again || !(*again == *model)) std::abort();
}

void config_document(std::string_view text) {
    auto builder = parse_config_document(text);
    if (!builder) {
        check_message(builder.error());
        return;
    }
    const std::string json = builder->vm_config_json();
    auto again = parse_config_document(json);
    if (!again || again->vm_config_json() != json) std::abort();
    (void)builder->build();
    (void)builder->machine_config_json();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    // Safety: libFuzzer's buffer of `size` bytes, viewed as characters.
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    round_trip(text, parse_boot_source);
    round_trip(text, parse_machine_config);
    round_trip(text, parse_machine_config_update);
    round_trip(text, parse_drive);
    round_trip(text, parse_partial_drive);
    round_trip(text, parse_network_interface);
    round_trip(text, parse_partial_network_interface);
    round_trip(text, parse_vsock);
    round_trip(text, parse_entropy);
    round_trip(text, parse_logger);
    round_trip(text, parse_metrics);
    round_trip(text, parse_serial);
    round_trip(text, parse_instance_action);
    round_trip(text, parse_vm);
    config_document(text);
    if (auto id = check_id("drives", "drive_id", text, kMaxDriveIdBytes); !id)
        check_message(id.error());
    return 0;
}
