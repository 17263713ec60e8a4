#include "jail/seccomp_json.hpp"

#include <nlohmann/json.hpp>

#include "vmm/sys/unique_fd.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>

namespace ember::jail {
namespace {

using Json = nlohmann::json;

constexpr uint64_t kDwordMask = 0xffff'ffff;
constexpr std::array<std::pair<std::string_view, CmpOp>, 6> kOps{{{"eq", CmpOp::kEq},
                                                                  {"ne", CmpOp::kNe},
                                                                  {"lt", CmpOp::kLt},
                                                                  {"le", CmpOp::kLe},
                                                                  {"gt", CmpOp::kGt},
                                                                  {"ge", CmpOp::kGe}}};

tl::unexpected<Error> bad(std::string_view where, std::string_view what) {
    return make_error(Errc::kInvalidInput, "seccomp filter file: {}: {}", where, what);
}

std::string string_or(const Json& object, const char* key, std::string fallback) {
    const auto it = object.find(key);
    return it != object.end() && it->is_string() ? it->get<std::string>() : std::move(fallback);
}

Result<uint64_t> unsigned_field(const Json& object, const char* key, const std::string& where) {
    const auto it = object.find(key);
    if (it == object.end() || !it->is_number_unsigned())
        return bad(where, fmt::format("'{}' must be a non-negative integer", key));
    return it->get<uint64_t>();
}

Result<ArgCheck> parse_arg(const Json& j, const std::string& where) {
    if (!j.is_object()) return bad(where, "an argument check must be an object");
    ArgCheck check;
    auto index = unsigned_field(j, "index", where);
    if (!index) return tl::unexpected(std::move(index.error()));
    if (*index > 5) return bad(where, "'index' must be 0 to 5");
    check.index = static_cast<uint8_t>(*index);
    auto value = unsigned_field(j, "val", where);
    if (!value) return tl::unexpected(std::move(value.error()));
    check.value = *value;
    check.comment = string_or(j, "comment", {});
    const std::string type = string_or(j, "type", "qword");
    if (type != "qword" && type != "dword") return bad(where, "'type' must be dword or qword");
    const bool dword = type == "dword";
    const auto op = j.find("op");
    if (op != j.end() && op->is_object() && op->size() == 1 && op->contains("masked_eq")) {
        auto mask = unsigned_field(*op, "masked_eq", where);
        if (!mask) return tl::unexpected(std::move(mask.error()));
        check.op = CmpOp::kMaskedEq;
        check.mask = dword ? *mask & kDwordMask : *mask;
        return check;
    }
    const std::string name = op != j.end() && op->is_string() ? op->get<std::string>() : "";
    const auto* found =
        std::find_if(kOps.begin(), kOps.end(), [&](const auto& p) { return p.first == name; });
    if (found == kOps.end())
        return bad(where, "'op' must be eq, ne, lt, le, gt, ge or {\"masked_eq\": MASK}");
    check.op = found->second;
    // A dword is the low half of the register: compare only that half.
    if (dword && check.op == CmpOp::kEq) {
        check.op = CmpOp::kMaskedEq;
        check.mask = kDwordMask;
    }
    return check;
}

Result<SyscallRule> parse_rule(const Json& j, const std::string& where) {
    if (!j.is_object() || !j.contains("syscall") || !j["syscall"].is_string())
        return bad(where, "each entry needs \"syscall\": NAME");
    SyscallRule rule{j["syscall"].get<std::string>(), string_or(j, "comment", {}), {}};
    const auto args = j.find("args");
    if (args == j.end()) return rule;
    if (!args->is_array()) return bad(where, "'args' must be an array of checks");
    for (size_t i = 0; i < args->size(); ++i) {
        auto check = parse_arg((*args)[i], fmt::format("{}, args[{}]", where, i));
        if (!check) return tl::unexpected(std::move(check.error()));
        rule.args.push_back(std::move(*check));
    }
    return rule;
}

Result<Allowlist> parse_kind(const Json& j, std::string_view kind) {
    const std::string where(kind);
    if (!j.is_object()) return bad(where, "must be an object with a \"filter\" array");
    if (string_or(j, "default_action", "trap") != "trap")
        return bad(where, "'default_action' must be \"trap\" (ember reports and exits with 148)");
    if (string_or(j, "filter_action", "allow") != "allow")
        return bad(where, "'filter_action' must be \"allow\" (the filter is an allowlist)");
    const auto filter = j.find("filter");
    if (filter == j.end() || !filter->is_array()) return bad(where, "needs a \"filter\" array");
    Allowlist list;
    for (size_t i = 0; i < filter->size(); ++i) {
        auto rule = parse_rule((*filter)[i], fmt::format("{}.filter[{}]", kind, i));
        if (!rule) return tl::unexpected(std::move(rule.error()));
        list.push_back(std::move(*rule));
    }
    return list;
}

Json arg_json(const ArgCheck& a) {
    Json j{{"index", a.index}, {"type", "qword"}, {"val", a.value}};
    if (a.op == CmpOp::kMaskedEq) {
        j["op"] = Json{{"masked_eq", a.mask}};
    } else {
        for (const auto& [name, op] : kOps)
            if (op == a.op) j["op"] = name;
    }
    if (!a.comment.empty()) j["comment"] = a.comment;
    return j;
}

} // namespace

Result<FilterSet> parse_filter_json(std::string_view text) {
    const Json doc = Json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (doc.is_discarded()) return bad("the document", "not valid JSON");
    if (!doc.is_object()) return bad("the document", "must be an object keyed by thread kind");
    for (const auto& [key, value] : doc.items())
        if (!parse_thread_kind(key))
            return bad(key, "unknown thread kind; ember's are api, vmm and vcpu");
    FilterSet set;
    for (const ThreadKind kind : kThreadKinds) {
        const std::string_view name = thread_kind_name(kind);
        const auto it = doc.find(name);
        if (it == doc.end())
            return bad(name, "missing: give every thread kind a filter (api, vmm, vcpu)");
        auto list = parse_kind(*it, name);
        if (!list) return tl::unexpected(std::move(list.error()));
        set[kind] = std::move(*list);
    }
    return set;
}

Result<FilterSet> load_filter_file(const std::string& path) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return sys_error(Errc::kNotFound, "--seccomp-filter '{}': cannot open the file", path);
    std::string text;
    std::array<char, 4096> chunk{};
    ssize_t n = 0;
    while ((n = ::read(fd.get(), chunk.data(), chunk.size())) > 0)
        text.append(chunk.data(), static_cast<size_t>(n));
    if (n < 0) return sys_error(Errc::kNotFound, "--seccomp-filter '{}': cannot read it", path);
    auto set = parse_filter_json(text);
    if (!set) return tl::unexpected(std::move(set.error()).with_context(fmt::format("'{}'", path)));
    return set;
}

std::string to_filter_json(const FilterSet& filters) {
    Json doc = Json::object();
    for (const ThreadKind kind : kThreadKinds) {
        Json list = Json::array();
        for (const SyscallRule& rule : filters[kind]) {
            Json entry{{"syscall", rule.name}, {"comment", rule.reason}};
            if (!rule.args.empty()) {
                entry["args"] = Json::array();
                for (const ArgCheck& a : rule.args)
                    entry["args"].push_back(arg_json(a));
            }
            list.push_back(std::move(entry));
        }
        doc[std::string(thread_kind_name(kind))] = Json{
            {"default_action", "trap"}, {"filter_action", "allow"}, {"filter", std::move(list)}};
    }
    return doc.dump(2) + "\n";
}

} // namespace ember::jail
