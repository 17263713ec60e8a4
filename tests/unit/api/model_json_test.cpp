// The strict JSON layer every resource shares: malformed bodies, wrong types, unknown and
// duplicate fields, nesting, NULs, numbers out of range, ids. Exercised through small resources
// (actions, vm, machine-config, vsock) so the messages are the ones users see.
#include "api/model/actions.hpp"
#include "api/model/ids.hpp"
#include "api/model/machine_config.hpp"
#include "api/model/vsock.hpp"
#include "tests/unit/api/model_test_util.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>

namespace ember::api::model {
namespace {

using testing::error_of;
using testing::has_all;
using testing::value_of;

TEST(ModelJson, MalformedJsonSaysWhereAndWhy) {
    EXPECT_TRUE(has_all(error_of(parse_vm("{\"state\": ")), {"vm:", "not valid JSON", "line 1"}));
    EXPECT_TRUE(has_all(error_of(parse_vm("{'state': 'Paused'}")), {"vm:", "not valid JSON"}));
    EXPECT_TRUE(has_all(error_of(parse_vm("{\"state\": \"Paused\"} x")), {"not valid JSON"}));
    EXPECT_TRUE(has_all(error_of(parse_vm("{\"state\": \"Paused\",}")), {"not valid JSON"}));
    EXPECT_TRUE(has_all(error_of(parse_vm("/* c */ {\"state\": \"Paused\"}")), {"not valid JSON"}));
    // The message quotes the input; bytes that are not printable ASCII come out as \xNN, so
    // the message is safe to put in a JSON reply or a log line.
    const auto e = error_of(parse_vm("{\"state\": \"\xff\"}"));
    EXPECT_TRUE(has_all(e, {"not valid JSON", "\\xff"}));
    EXPECT_TRUE(std::all_of(e.begin(), e.end(), [](char c) { return c >= 0x20 && c < 0x7f; })) << e;
}

TEST(ModelJson, EmptyAndNonObjectBodies) {
    EXPECT_TRUE(has_all(error_of(parse_vm("")), {"vm: the body is empty"}));
    EXPECT_TRUE(has_all(error_of(parse_vm(" \r\n")), {"the body is empty"}));
    EXPECT_TRUE(has_all(error_of(parse_vm("[]")), {"must be a JSON object, not an array"}));
    EXPECT_TRUE(has_all(error_of(parse_vm("\"Paused\"")), {"not a string"}));
    EXPECT_TRUE(has_all(error_of(parse_vm("null")), {"not null"}));
}

TEST(ModelJson, UnknownFieldsAreRefusedAndTheKnownOnesListed) {
    const auto e = error_of(parse_vm(R"({"state": "Paused", "stat": 1})"));
    EXPECT_TRUE(has_all(e, {"vm: unknown field \"stat\"", "the fields are state"}));
    EXPECT_TRUE(has_all(error_of(parse_vsock(R"({"guest_cid": 3, "uds_path": "a", "cid": 3})")),
                        {"unknown field \"cid\"", "guest_cid, uds_path, vsock_id"}));
}

TEST(ModelJson, DuplicateFieldsAreRefused) {
    EXPECT_TRUE(has_all(error_of(parse_vm(R"({"state": "Paused", "state": "Resumed"})")),
                        {"vm:", "field \"state\" appears twice"}));
    // The same key in two different objects is fine.
    const auto m = value_of(parse_machine_config(R"({"vcpu_count": 2, "mem_size_mib": 256})"));
    EXPECT_EQ(m.vcpu_count, 2U);
}

TEST(ModelJson, DeepNestingIsRefusedWithoutRecursing) {
    const std::string deep =
        "{\"state\": " + std::string(100000, '[') + std::string(100000, ']') + "}";
    EXPECT_TRUE(has_all(error_of(parse_vm(deep)), {"nesting deeper than 16 levels"}));
}

TEST(ModelJson, WrongTypesNameTheFieldTheTypeAndTheValue) {
    EXPECT_EQ(error_of(parse_machine_config(R"({"vcpu_count": "2", "mem_size_mib": 128})")),
              "machine-config: vcpu_count must be an integer, not a string (\"2\")");
    EXPECT_TRUE(has_all(error_of(parse_machine_config(R"({"vcpu_count": 2.0, "mem_size_mib": 1})")),
                        {"vcpu_count must be an integer", "2.0"}));
    EXPECT_TRUE(has_all(
        error_of(parse_machine_config(R"({"vcpu_count": 2, "mem_size_mib": 128, "smt": 0})")),
        {"smt must be a boolean", "not an integer (0)"}));
    EXPECT_TRUE(has_all(error_of(parse_vsock(R"({"guest_cid": 3, "uds_path": ["a"]})")),
                        {"vsock: uds_path must be a string, not an array"}));
    EXPECT_TRUE(has_all(error_of(parse_vm(R"({"state": 1})")),
                        {"vm: state 1 is not valid; use \"Paused\" or \"Resumed\""}));
}

TEST(ModelJson, MissingAndNullRequiredFields) {
    EXPECT_EQ(error_of(parse_machine_config(R"({"vcpu_count": 2})")),
              "machine-config: mem_size_mib is required");
    EXPECT_EQ(error_of(parse_vm("{}")), "vm: state is required");
    EXPECT_EQ(error_of(parse_vm(R"({"state": null})")), "vm: state must not be null");
    // null is "absent" for an optional field.
    EXPECT_FALSE(value_of(parse_vsock(R"({"guest_cid": 3, "uds_path": "a", "vsock_id": null})"))
                     .vsock_id.has_value());
}

TEST(ModelJson, IntegersOutOfRangeShowTheRange) {
    EXPECT_EQ(error_of(parse_machine_config(R"({"vcpu_count": 0, "mem_size_mib": 128})")),
              "machine-config: vcpu_count 0 is out of range; use 1..32");
    EXPECT_EQ(error_of(parse_machine_config(R"({"vcpu_count": -1, "mem_size_mib": 128})")),
              "machine-config: vcpu_count -1 is out of range; use 1..32");
    EXPECT_TRUE(has_all(error_of(parse_machine_config(
                            R"({"vcpu_count": 1, "mem_size_mib": 99999999999999999999})")),
                        {"mem_size_mib must be an integer"}));
    EXPECT_TRUE(has_all(error_of(parse_vsock(R"({"guest_cid": 4294967296, "uds_path": "a"})")),
                        {"guest_cid 4294967296 is out of range; use 3..4294967294"}));
}

TEST(ModelJson, StringsWithNulOrTooLongAreRefused) {
    EXPECT_TRUE(has_all(error_of(parse_vsock(R"({"guest_cid": 3, "uds_path": "a\u0000b"})")),
                        {"uds_path", "NUL"}));
    EXPECT_TRUE(has_all(error_of(parse_vsock(R"({"guest_cid": 3, "uds_path": ""})")),
                        {"uds_path must not be empty"}));
    const std::string long_path = std::string(200, 'p');
    EXPECT_TRUE(
        has_all(error_of(parse_vsock(R"({"guest_cid": 3, "uds_path": ")" + long_path + "\"}")),
                {"uds_path is 200 bytes long; at most 107"}));
}

TEST(ModelJson, LongValuesAreCutInMessages) {
    const std::string big(5000, 'x');
    const auto e = error_of(parse_vm(R"({"state": ")" + big + "\"}"));
    EXPECT_LT(e.size(), 200U) << e;
}

TEST(ModelJson, Ids) {
    EXPECT_TRUE(check_id("drives", "drive_id", "rootfs_1", kMaxDriveIdBytes).has_value());
    EXPECT_TRUE(check_id("drives", "drive_id", std::string(20, 'a'), kMaxDriveIdBytes).has_value());
    EXPECT_EQ(error_of(check_id("drives", "drive_id", "a-b", kMaxDriveIdBytes)),
              "drives: drive_id 'a-b' is not valid: use 1 to 20 ASCII letters, digits or "
              "underscores");
    EXPECT_TRUE(has_all(error_of(check_id("drives", "drive_id", "", kMaxDriveIdBytes)), {"''"}));
    error_of(check_id("drives", "drive_id", std::string(21, 'a'), kMaxDriveIdBytes));
    error_of(check_id("x", "iface_id", std::string(65, 'a'), kMaxIdBytes));
    error_of(check_id("x", "iface_id", "a/b", kMaxIdBytes));
    error_of(check_id("x", "iface_id", "caf\xc3\xa9", kMaxIdBytes));
    EXPECT_TRUE(has_all(error_of(check_id("x", "iface_id", std::string("a\nb"), kMaxIdBytes)),
                        {"a\\x0ab"}));
    EXPECT_TRUE(has_all(error_of(check_path_id("drives", "drive_id", "a", "b")),
                        {"path ('a')", "drive_id in the body ('b')"}));
}

TEST(ModelJson, ActionsAndVmState) {
    EXPECT_EQ(value_of(parse_instance_action(R"({"action_type": "InstanceStart"})")).action_type,
              ActionType::kInstanceStart);
    EXPECT_EQ(value_of(parse_instance_action(R"({"action_type": "SendCtrlAltDel"})")).action_type,
              ActionType::kSendCtrlAltDel);
    EXPECT_EQ(value_of(parse_instance_action(R"({"action_type": "FlushMetrics"})")).action_type,
              ActionType::kFlushMetrics);
    EXPECT_EQ(error_of(parse_instance_action(R"({"action_type": "instancestart"})")),
              "actions: action_type \"instancestart\" is not valid; use \"InstanceStart\", "
              "\"SendCtrlAltDel\" or \"FlushMetrics\"");
    EXPECT_EQ(value_of(parse_vm(R"({"state": "Resumed"})")).state, VmState::kResumed);
    for (const auto a :
         {ActionType::kInstanceStart, ActionType::kSendCtrlAltDel, ActionType::kFlushMetrics})
        EXPECT_EQ(value_of(parse_instance_action(to_json(InstanceActionInfo{a}))).action_type, a);
    EXPECT_EQ(to_json(Vm{VmState::kPaused}), R"({"state":"Paused"})");
}

} // namespace
} // namespace ember::api::model
