// The JSON side of every model (internal to api/model): decode_x() checks one object of
// resource `where` and builds the model, encode() writes Firecracker's shape back. The public
// headers wrap these in string functions (parse_x(body), to_json(model)); the config file and
// GET /vm/config use them directly to nest resources in one document.
#pragma once

#include "api/model/actions.hpp"
#include "api/model/boot_source.hpp"
#include "api/model/drive.hpp"
#include "api/model/entropy.hpp"
#include "api/model/json_reader.hpp"
#include "api/model/logger.hpp"
#include "api/model/machine_config.hpp"
#include "api/model/metrics.hpp"
#include "api/model/network_interface.hpp"
#include "api/model/rate_limiter.hpp"
#include "api/model/serial.hpp"
#include "api/model/vsock.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace ember::api::model {

// Nested limiters: the object under `key` of `parent`; errors go to `parent`.
std::optional<TokenBucket> read_token_bucket(ObjectReader& parent, std::string_view key);
std::optional<RateLimiter> read_rate_limiter(ObjectReader& parent, std::string_view key);

Result<BootSource> decode_boot_source(const Json& value, const std::string& where);
Result<MachineConfig> decode_machine_config(const Json& value, const std::string& where);
Result<MachineConfigUpdate> decode_machine_config_update(const Json& value,
                                                         const std::string& where);
Result<Drive> decode_drive(const Json& value, const std::string& where);
Result<PartialDrive> decode_partial_drive(const Json& value, const std::string& where);
Result<NetworkInterface> decode_network_interface(const Json& value, const std::string& where);
Result<PartialNetworkInterface> decode_partial_network_interface(const Json& value,
                                                                 const std::string& where);
Result<Vsock> decode_vsock(const Json& value, const std::string& where);
Result<Entropy> decode_entropy(const Json& value, const std::string& where);
Result<Logger> decode_logger(const Json& value, const std::string& where);
Result<Metrics> decode_metrics(const Json& value, const std::string& where);
Result<Serial> decode_serial(const Json& value, const std::string& where);
Result<InstanceActionInfo> decode_instance_action(const Json& value, const std::string& where);
Result<Vm> decode_vm(const Json& value, const std::string& where);

Json encode(const TokenBucket& bucket);
Json encode(const RateLimiter& limiter);
Json encode(const BootSource& source);
Json encode(const MachineConfig& config);
Json encode(const Drive& drive);
Json encode(const PartialDrive& drive);
Json encode(const NetworkInterface& iface);
Json encode(const PartialNetworkInterface& iface);
Json encode(const Vsock& vsock);
Json encode(const Entropy& entropy);
Json encode(const Logger& logger);
Json encode(const Metrics& metrics);
Json encode(const Serial& serial);

} // namespace ember::api::model
