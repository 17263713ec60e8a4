// Command-line parsing (CLI11) into a VmConfig.
#pragma once

#include "vmm/config.hpp"
#include "vmm/sys/result.hpp"

#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace ember {

// What the command line asks for: run a VM, or print text (help, version) and exit 0.
struct PrintAndExit {
    std::string text;
};
using CliRequest = std::variant<VmConfig, PrintAndExit>;

// Parses argv (argv[0] is the program name). Errors are Errc::kInvalidArgument with a message
// naming the flag and what it accepts.
Result<CliRequest> parse_cli(const std::vector<std::string>& args);

// One --drive value: path=IMAGE[,id=ID][,ro][,root][,cache=unsafe|writeback]
// [,engine=auto|sync|io_uring][,overlay=FILE][,bw=BYTES[/MS][+BURST]][,iops=OPS[/MS][+BURST]].
Result<virtio::block::DriveConfig> parse_drive(std::string_view spec);

// One --entropy value: [bw=BYTES[/MS][+BURST]][,ops=OPS[/MS][+BURST]] (empty: no limit).
Result<virtio::rng::EntropyConfig> parse_entropy(std::string_view spec);

// One --net value: tap=NAME[,id=ID][,mac=AA:BB:CC:DD:EE:FF][,mtu=N][,rx-bw=..][,rx-ops=..]
// [,tx-bw=..][,tx-ops=..] (buckets as --drive's bw and iops).
Result<virtio::net::NetConfig> parse_net(std::string_view spec);
// "cid=3,uds=/tmp/v.sock" (--vsock).
Result<virtio::vsock::VsockConfig> parse_vsock(std::string_view spec);

} // namespace ember
