// docs/openapi.json against the code: the document's paths and methods are exactly
// api::routes() (HEAD aside), every $ref resolves, and each request-body schema agrees with its
// api::model parser on a sample body that uses every field, on the same body with an unknown
// field at any level or without a required field (both refuse), and with an optional field
// null (both accept). The 200 bodies ember writes match the response schemas.
#include "api/model/actions.hpp"
#include "api/model/boot_source.hpp"
#include "api/model/drive.hpp"
#include "api/model/entropy.hpp"
#include "api/model/logger.hpp"
#include "api/model/machine_config.hpp"
#include "api/model/metrics.hpp"
#include "api/model/network_interface.hpp"
#include "api/model/serial.hpp"
#include "api/model/vm_config_builder.hpp"
#include "api/model/vsock.hpp"
#include "api/router.hpp"
#include "tests/unit/api/schema_checker.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace ember::api {
namespace {

using Json = nlohmann::json;
using testing::SchemaChecker;

const Json& document() {
    static const Json doc = [] {
        std::ifstream in(EMBER_SOURCE_DIR "/docs/openapi.json");
        EXPECT_TRUE(in.good()) << "cannot open " EMBER_SOURCE_DIR "/docs/openapi.json";
        return Json::parse(in, nullptr, /*allow_exceptions=*/false);
    }();
    return doc;
}

const std::set<std::string> kMethodKeys{"get",     "put",  "post",  "delete",
                                        "options", "head", "patch", "trace"};

std::string lower(std::string_view text) {
    std::string out(text);
    std::ranges::transform(out, out.begin(), [](char c) {
        return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
    });
    return out;
}

// (path, lower-case method) pairs.
using Operations = std::set<std::pair<std::string, std::string>>;

Operations document_operations() {
    Operations ops;
    for (const auto& [path, item] : document().at("paths").items())
        for (const auto& [key, op] : item.items())
            if (kMethodKeys.contains(key)) ops.emplace(path, key);
    return ops;
}

Operations code_operations() {
    Operations ops;
    for (const RouteInfo& r : routes())
        for (http::Method m : r.methods)
            if (m != http::Method::kHead) ops.emplace(std::string(r.path), lower(method_name(m)));
    return ops;
}

TEST(OpenApi, IsAnOpenApi30Document) {
    const Json& doc = document();
    ASSERT_TRUE(doc.is_object()) << "docs/openapi.json is not valid JSON";
    EXPECT_TRUE(doc.at("openapi").get<std::string>().starts_with("3.0."));
    EXPECT_EQ(doc.at("info").at("version").get<std::string>(), kFirecrackerApiVersion);
    EXPECT_FALSE(doc.at("paths").empty());
}

TEST(OpenApi, EveryDocumentedOperationIsRouted) {
    const Operations code = code_operations();
    for (const auto& op : document_operations())
        EXPECT_TRUE(code.contains(op))
            << op.second << " " << op.first << " is in docs/openapi.json but not in api::routes()";
}

TEST(OpenApi, EveryRouteIsDocumented) {
    const Operations doc = document_operations();
    ASSERT_FALSE(routes().empty());
    for (const auto& op : code_operations())
        EXPECT_TRUE(doc.contains(op))
            << op.second << " " << op.first << " is served but missing from docs/openapi.json";
}

TEST(OpenApi, PathParametersAreDeclared) {
    for (const auto& [path, item] : document().at("paths").items()) {
        const auto open = path.find('{');
        if (open == std::string::npos) continue;
        const std::string name = path.substr(open + 1, path.find('}') - open - 1);
        for (const auto& [key, op] : item.items()) {
            if (!kMethodKeys.contains(key)) continue;
            const bool declared = op.contains("parameters") &&
                                  std::ranges::any_of(op.at("parameters"), [&](const Json& p) {
                                      return p.at("name") == name && p.at("in") == "path";
                                  });
            EXPECT_TRUE(declared) << key << " " << path << " does not declare " << name;
        }
    }
}

void collect_refs(const Json& node, std::vector<std::string>& refs) {
    if (node.is_object()) {
        if (node.contains("$ref")) refs.push_back(node.at("$ref").get<std::string>());
        for (const auto& [key, child] : node.items())
            collect_refs(child, refs);
    } else if (node.is_array()) {
        for (const Json& child : node)
            collect_refs(child, refs);
    }
}

TEST(OpenApi, EveryRefResolves) {
    std::vector<std::string> refs;
    collect_refs(document(), refs);
    ASSERT_GT(refs.size(), 20U);
    for (const std::string& ref : refs) {
        ASSERT_TRUE(ref.starts_with("#/")) << ref;
        const Json::json_pointer pointer(ref.substr(1));
        EXPECT_TRUE(document().contains(pointer)) << ref << " does not resolve";
    }
}

// A parser reduced to accept/refuse; the message says why it refused.
using Parse = Result<void> (*)(std::string_view);
template <auto F> Result<void> parses(std::string_view body) {
    auto r = F(body);
    if (!r) return tl::unexpected(std::move(r.error()));
    return {};
}

struct BodyCase {
    std::string schema; // components/schemas/<schema>
    Parse parse;
    std::string sample; // uses every field the schema lists, at every level
};

const std::vector<BodyCase>& body_cases() {
    using namespace model;
    static const std::string limiter =
        R"({"bandwidth": {"size": 1048576, "one_time_burst": 4096, "refill_time": 1000},
            "ops": {"size": 100, "one_time_burst": 10, "refill_time": 1000}})";
    static const std::vector<BodyCase> cases{
        {"BootSource", parses<parse_boot_source>,
         R"({"kernel_image_path": "vmlinux", "boot_args": "console=ttyS0",
             "initrd_path": "initrd.img", "boot_protocol": "Pvh"})"},
        {"MachineConfiguration", parses<parse_machine_config>,
         R"({"vcpu_count": 2, "mem_size_mib": 256, "smt": false, "track_dirty_pages": false,
             "cpu_template": "None", "huge_pages": "None"})"},
        {"MachineConfigurationPartial", parses<parse_machine_config_update>,
         R"({"vcpu_count": 2, "mem_size_mib": 256, "smt": false, "track_dirty_pages": false,
             "cpu_template": "None", "huge_pages": "None"})"},
        {"Drive", parses<parse_drive>,
         R"({"drive_id": "rootfs", "path_on_host": "rootfs.ext4", "is_root_device": true,
             "is_read_only": false, "partuuid": "0eaa91a0-01", "cache_type": "Writeback",
             "io_engine": "Sync", "overlay_path": "/run/vm1.ovl", "rate_limiter": )" +
             limiter + "}"},
        {"PartialDrive", parses<parse_partial_drive>,
         R"({"drive_id": "rootfs", "path_on_host": "new.ext4", "rate_limiter": )" + limiter + "}"},
        {"NetworkInterface", parses<parse_network_interface>,
         R"({"iface_id": "eth0", "host_dev_name": "tap0", "guest_mac": "06:00:AC:10:00:02",
             "mtu": 1500, "rx_rate_limiter": )" +
             limiter + R"(, "tx_rate_limiter": )" + limiter + "}"},
        {"PartialNetworkInterface", parses<parse_partial_network_interface>,
         R"({"iface_id": "eth0", "rx_rate_limiter": )" + limiter + R"(, "tx_rate_limiter": )" +
             limiter + "}"},
        {"Vsock", parses<parse_vsock>,
         R"({"guest_cid": 3, "uds_path": "/tmp/v.sock", "vsock_id": "vsock0"})"},
        {"Entropy", parses<parse_entropy>, R"({"rate_limiter": )" + limiter + "}"},
        {"Logger", parses<parse_logger>,
         R"({"log_path": "/tmp/ember.log", "level": "Warning", "show_level": true,
             "show_log_origin": false})"},
        {"Metrics", parses<parse_metrics>,
         R"({"metrics_path": "/tmp/ember.metrics", "emit_id": false, "properties": {}})"},
        {"SerialDevice", parses<parse_serial>, R"({"serial_out_path": "/tmp/console.log"})"},
        {"InstanceActionInfo", parses<parse_instance_action>,
         R"({"action_type": "InstanceStart"})"},
        {"Vm", parses<parse_vm>, R"({"state": "Paused"})"},
    };
    return cases;
}

const Json& schema_named(const std::string& name) {
    return document().at("components").at("schemas").at(name);
}

TEST(OpenApi, EveryRequestBodyHasAParserCase) {
    std::set<std::string> used;
    for (const auto& [path, item] : document().at("paths").items())
        for (const auto& [key, op] : item.items())
            if (kMethodKeys.contains(key) && op.contains("requestBody")) {
                const std::string ref = op.at("requestBody")
                                            .at("content")
                                            .at("application/json")
                                            .at("schema")
                                            .at("$ref")
                                            .get<std::string>();
                used.insert(ref.substr(ref.rfind('/') + 1));
            }
    std::set<std::string> tested;
    for (const BodyCase& c : body_cases())
        tested.insert(c.schema);
    EXPECT_EQ(used, tested);
}

// Every object in `value` (the body itself and each nested object) with its schema and its
// JSON pointer.
struct ObjectNode {
    Json::json_pointer pointer;
    const Json* schema;
};

void object_nodes(const SchemaChecker& checker, const Json& schema, const Json& value,
                  const Json::json_pointer& pointer, std::vector<ObjectNode>& out) {
    const Json& s = checker.unwrap(schema);
    if (!value.is_object() || !s.contains("properties")) return;
    out.push_back({pointer, &s});
    for (const auto& [key, child] : value.items())
        if (s.at("properties").contains(key))
            object_nodes(checker, s.at("properties").at(key), child, pointer / key, out);
}

// What the schema and the parser say about `body`: "" for accepted, else why.
std::pair<std::string, std::string> verdicts(const SchemaChecker& checker, const BodyCase& c,
                                             const Json& body) {
    const auto parsed = c.parse(body.dump());
    return {checker.check(schema_named(c.schema), body),
            parsed ? std::string() : parsed.error().message()};
}

TEST(OpenApi, SampleBodiesPassSchemaAndParser) {
    const SchemaChecker checker(document());
    for (const BodyCase& c : body_cases()) {
        const Json body = Json::parse(c.sample);
        const auto [schema_says, parser_says] = verdicts(checker, c, body);
        EXPECT_EQ(schema_says, "") << c.schema;
        EXPECT_EQ(parser_says, "") << c.schema;
        // The sample sets every field the schema lists, so each one is known to the parser.
        std::vector<ObjectNode> nodes;
        object_nodes(checker, schema_named(c.schema), body, Json::json_pointer(), nodes);
        for (const ObjectNode& node : nodes)
            for (const auto& [key, prop] : node.schema->at("properties").items())
                EXPECT_TRUE(body.at(node.pointer).contains(key))
                    << c.schema << ": the sample lacks " << node.pointer.to_string() << "/" << key;
    }
}

TEST(OpenApi, UnknownFieldsAreRefusedByBoth) {
    const SchemaChecker checker(document());
    for (const BodyCase& c : body_cases()) {
        const Json body = Json::parse(c.sample);
        std::vector<ObjectNode> nodes;
        object_nodes(checker, schema_named(c.schema), body, Json::json_pointer(), nodes);
        ASSERT_FALSE(nodes.empty()) << c.schema;
        for (const ObjectNode& node : nodes) {
            EXPECT_EQ(node.schema->value("additionalProperties", Json(true)), Json(false))
                << c.schema << node.pointer.to_string();
            Json bad = body;
            bad.at(node.pointer)["no_such_field"] = 1;
            const auto [schema_says, parser_says] = verdicts(checker, c, bad);
            EXPECT_NE(schema_says, "") << c.schema << ": " << bad.dump();
            EXPECT_NE(parser_says, "") << c.schema << ": " << bad.dump();
        }
    }
}

TEST(OpenApi, RequiredAndOptionalFieldsAgree) {
    const SchemaChecker checker(document());
    for (const BodyCase& c : body_cases()) {
        const Json body = Json::parse(c.sample);
        std::vector<ObjectNode> nodes;
        object_nodes(checker, schema_named(c.schema), body, Json::json_pointer(), nodes);
        for (const ObjectNode& node : nodes) {
            const Json required = node.schema->value("required", Json::array());
            for (const auto& [key, prop] : node.schema->at("properties").items()) {
                const bool is_required = std::ranges::find(required, Json(key)) != required.end();
                Json changed = body;
                if (is_required)
                    changed.at(node.pointer).erase(key); // both must refuse
                else
                    changed.at(node.pointer)[key] = nullptr; // null is absent: both accept
                const auto [schema_says, parser_says] = verdicts(checker, c, changed);
                const std::string what = c.schema + node.pointer.to_string() + "/" + key;
                EXPECT_EQ(schema_says.empty(), !is_required) << what << ": " << schema_says;
                EXPECT_EQ(parser_says.empty(), !is_required) << what << ": " << parser_says;
            }
        }
    }
}

TEST(OpenApi, EmptyPatchIsRefusedByBoth) {
    const SchemaChecker checker(document());
    const Json empty = Json::object();
    EXPECT_NE(checker.check(schema_named("MachineConfigurationPartial"), empty), "");
    EXPECT_FALSE(model::parse_machine_config_update("{}"));
}

// The 200 body `path` documents for GET.
const Json& response_schema(const std::string& path) {
    return document()
        .at("paths")
        .at(path)
        .at("get")
        .at("responses")
        .at("200")
        .at("content")
        .at("application/json")
        .at("schema");
}

TEST(OpenApi, ResponseBodiesMatchTheirSchemas) {
    const SchemaChecker checker(document());
    http::Request version;
    version.path = "/version";
    const Routed routed = route(version);
    ASSERT_TRUE(std::holds_alternative<http::Response>(routed));
    EXPECT_EQ(checker.check(response_schema("/version"),
                            Json::parse(std::get<http::Response>(routed).body)),
              "");

    model::VmConfigBuilder builder;
    EXPECT_EQ(checker.check(response_schema("/machine-config"),
                            Json::parse(builder.machine_config_json())),
              "");
    EXPECT_EQ(checker.check(response_schema("/vm/config"), Json::parse(builder.vm_config_json())),
              "");
    // Every resource set, from the samples above.
    const auto sample = [](const std::string& schema) {
        return std::ranges::find(body_cases(), schema, &BodyCase::schema)->sample;
    };
    ASSERT_TRUE(builder.set_boot_source(*model::parse_boot_source(sample("BootSource"))));
    ASSERT_TRUE(builder.put_drive("rootfs", *model::parse_drive(sample("Drive"))));
    ASSERT_TRUE(builder.put_network_interface(
        "eth0", *model::parse_network_interface(sample("NetworkInterface"))));
    ASSERT_TRUE(builder.set_vsock(*model::parse_vsock(sample("Vsock"))));
    ASSERT_TRUE(builder.set_entropy(*model::parse_entropy(sample("Entropy"))));
    ASSERT_TRUE(builder.set_logger(*model::parse_logger(sample("Logger"))));
    builder.set_metrics(*model::parse_metrics(sample("Metrics")));
    builder.set_serial(*model::parse_serial(sample("SerialDevice")));
    EXPECT_EQ(checker.check(response_schema("/vm/config"), Json::parse(builder.vm_config_json())),
              "");
    const Json info = {
        {"app_name", "ember"}, {"id", "vm1"}, {"state", "Running"}, {"vmm_version", "0.1.0"}};
    EXPECT_EQ(checker.check(response_schema("/"), info), "");
}

} // namespace
} // namespace ember::api
