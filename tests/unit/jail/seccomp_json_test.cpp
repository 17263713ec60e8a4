// Filter files: Firecracker's seccompiler JSON in, the built-in lists out and back.
#include "jail/filters/allowlists.hpp"
#include "jail/seccomp_json.hpp"

#include <gtest/gtest.h>

#include <csignal>

namespace ember::jail {
namespace {

std::string doc(const std::string& vcpu_filter) {
    const std::string empty =
        R"({"default_action": "trap", "filter_action": "allow", "filter": []})";
    return R"({"api": )" + empty + R"(, "vmm": )" + empty +
           R"(, "vcpu": {"default_action": "trap", "filter_action": "allow", "filter": )" +
           vcpu_filter + "}}";
}

std::string error_of(const std::string& text) {
    auto r = parse_filter_json(text);
    EXPECT_FALSE(r.has_value());
    if (r) return {};
    EXPECT_EQ(r.error().code(), Errc::kInvalidInput);
    return r.error().message();
}

TEST(SeccompJson, TheBuiltInListsRoundTrip) {
    const FilterSet set = default_filters(FilterParams{SIGRTMIN});
    auto back = parse_filter_json(to_filter_json(set));
    ASSERT_TRUE(back.has_value()) << back.error().describe();
    for (const ThreadKind kind : kThreadKinds) {
        ASSERT_EQ((*back)[kind].size(), set[kind].size()) << thread_kind_name(kind);
        for (size_t i = 0; i < set[kind].size(); ++i) {
            EXPECT_EQ((*back)[kind][i].name, set[kind][i].name);
            EXPECT_EQ((*back)[kind][i].reason, set[kind][i].reason);
            EXPECT_EQ((*back)[kind][i].args, set[kind][i].args) << set[kind][i].name;
        }
    }
}

TEST(SeccompJson, FirecrackerStyleEntriesParse) {
    auto r = parse_filter_json(doc(R"([
        {"syscall": "read"},
        {"syscall": "ioctl", "comment": "KVM_RUN",
         "args": [{"index": 1, "type": "dword", "op": "eq", "val": 44672, "comment": "KVM_RUN"}]},
        {"syscall": "mmap", "args": [{"index": 2, "type": "dword", "op": {"masked_eq": 4}, "val": 0}]},
        {"syscall": "tgkill", "args": [{"index": 2, "type": "qword", "op": "ne", "val": 9}]}])"));
    ASSERT_TRUE(r.has_value()) << r.error().describe();
    const Allowlist& vcpu = (*r)[ThreadKind::kVcpu];
    ASSERT_EQ(vcpu.size(), 4U);
    EXPECT_EQ(vcpu[0].name, "read");
    EXPECT_TRUE(vcpu[0].args.empty());
    EXPECT_EQ(vcpu[1].reason, "KVM_RUN");
    // A dword compares the low half of the register.
    EXPECT_EQ(vcpu[1].args, (std::vector{arg_masked_eq(1, 0xffff'ffff, 44672)}));
    EXPECT_EQ(vcpu[2].args, (std::vector{arg_masked_eq(2, 4, 0)}));
    EXPECT_EQ(vcpu[3].args, (std::vector{ArgCheck{2, CmpOp::kNe, 9, 0, {}}}));
    EXPECT_TRUE((*r)[ThreadKind::kApi].empty());
}

TEST(SeccompJson, ErrorsNameTheEntryAndWhatIsAllowed) {
    EXPECT_NE(error_of("{").find("not valid JSON"), std::string::npos);
    EXPECT_NE(error_of(R"({"api": {"filter": []}, "vmm": {"filter": []}})")
                  .find("vcpu: missing: give every thread kind a filter"),
              std::string::npos);
    EXPECT_NE(error_of(R"({"main": {"filter": []}})").find("main: unknown thread kind"),
              std::string::npos);
    EXPECT_NE(error_of(doc(R"([{"syscall": "read"}, {"name": "write"}])"))
                  .find("vcpu.filter[1]: each entry needs \"syscall\": NAME"),
              std::string::npos);
    EXPECT_NE(
        error_of(doc(R"([{"syscall": "ioctl", "args": [{"index": 1, "op": "in", "val": 1}]}])"))
            .find("vcpu.filter[0], args[0]: 'op' must be eq, ne"),
        std::string::npos);
    EXPECT_NE(
        error_of(doc(R"([{"syscall": "ioctl", "args": [{"index": 7, "op": "eq", "val": 1}]}])"))
            .find("'index' must be 0 to 5"),
        std::string::npos);
    EXPECT_NE(
        error_of(doc(R"([{"syscall": "ioctl", "args": [{"index": 1, "op": "eq", "val": -1}]}])"))
            .find("'val' must be a non-negative integer"),
        std::string::npos);
    const std::string kill =
        R"({"api": {"default_action": "kill_process", "filter": []}, "vmm": {"filter": []},
            "vcpu": {"filter": []}})";
    EXPECT_NE(error_of(kill).find("api: 'default_action' must be \"trap\""), std::string::npos);
}

} // namespace
} // namespace ember::jail
