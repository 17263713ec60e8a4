#include "vmm/cli.hpp"

#include <gtest/gtest.h>

namespace ember {
namespace {

Result<CliRequest> parse(std::vector<std::string> args) {
    args.insert(args.begin(), "ember");
    return parse_cli(args);
}

VmConfig config_of(std::vector<std::string> args) {
    auto r = parse(std::move(args));
    EXPECT_TRUE(r.has_value()) << r.error().describe();
    return std::get<VmConfig>(*r);
}

std::string error_of(std::vector<std::string> args) {
    auto r = parse(std::move(args));
    EXPECT_FALSE(r.has_value());
    if (r) return {};
    EXPECT_EQ(r.error().code(), Errc::kInvalidArgument);
    return r.error().message();
}

TEST(Cli, DefaultsBootTheBundledGuest) {
    VmConfig c = config_of({});
    EXPECT_FALSE(c.kernel_path.has_value());
    EXPECT_EQ(c.mem_mib, VmConfig::kDefaultMemMib);
    EXPECT_EQ(c.vcpus, 1U);
    EXPECT_EQ(c.cmdline, VmConfig::kDefaultCmdline);
    EXPECT_EQ(c.serial.mode, SerialConfig::Mode::kStdout);
    EXPECT_FALSE(c.print_timings);
}

TEST(Cli, ParsesEveryFlag) {
    VmConfig c = config_of({"--kernel", "k.elf", "--cmdline", "a b=c", "--initrd", "i.img",
                            "--mem-mib", "256", "--vcpus", "4", "--serial", "file:/tmp/out",
                            "--timings", "--log-level", "debug"});
    EXPECT_EQ(c.kernel_path.value(), "k.elf");
    EXPECT_EQ(c.cmdline, "a b=c");
    EXPECT_EQ(c.initrd_path.value(), "i.img");
    EXPECT_EQ(c.mem_mib, 256U);
    EXPECT_EQ(c.vcpus, 4U);
    EXPECT_EQ(c.serial.mode, SerialConfig::Mode::kFile);
    EXPECT_EQ(c.serial.path, "/tmp/out");
    EXPECT_TRUE(c.print_timings);
    EXPECT_EQ(c.log_level, log::Level::kDebug);
    EXPECT_EQ(config_of({"--serial", "none"}).serial.mode, SerialConfig::Mode::kNone);
}

TEST(Cli, OutOfRangeValuesNameTheFlagAndTheRange) {
    std::string e = error_of({"--vcpus", "33"});
    EXPECT_NE(e.find("--vcpus"), std::string::npos) << e;
    EXPECT_NE(e.find("32"), std::string::npos) << e;
    e = error_of({"--vcpus", "0"});
    EXPECT_NE(e.find("--vcpus"), std::string::npos) << e;
    e = error_of({"--mem-mib", "1"});
    EXPECT_NE(e.find("--mem-mib"), std::string::npos) << e;
    e = error_of({"--mem-mib", "lots"});
    EXPECT_NE(e.find("--mem-mib"), std::string::npos) << e;
}

TEST(Cli, BadValuesAndUnknownFlagsAreRefused) {
    EXPECT_NE(error_of({"--serial", "tty"}).find("stdout, none or file:PATH"), std::string::npos);
    EXPECT_NE(error_of({"--serial", "file:"}).find("--serial"), std::string::npos);
    EXPECT_NE(error_of({"--log-level", "loud"}).find("--log-level"), std::string::npos);
    EXPECT_NE(error_of({"--frobnicate"}).find("frobnicate"), std::string::npos);
    EXPECT_NE(error_of({"--kernel"}).find("--kernel"), std::string::npos);
}

TEST(Cli, HelpDocumentsEveryFlagAndVersionPrints) {
    auto r = parse({"--help"});
    ASSERT_TRUE(r.has_value());
    const auto& text = std::get<PrintAndExit>(*r).text;
    for (const char* flag : {"--kernel", "--cmdline", "--initrd", "--mem-mib", "--vcpus",
                             "--serial", "--timings", "--log-level", "--version"})
        EXPECT_NE(text.find(flag), std::string::npos) << flag;
    auto v = parse({"--version"});
    ASSERT_TRUE(v.has_value());
    EXPECT_EQ(std::get<PrintAndExit>(*v).text, std::string("ember ") + EMBER_VERSION + "\n");
}

} // namespace
} // namespace ember

namespace ember {
namespace {

using virtio::block::CacheMode;
using virtio::block::EngineKind;

TEST(CliDrive, ParsesEveryKey) {
    VmConfig c = config_of({"--drive",
                            "path=/img/root.ext4,id=rootfs,root,ro,cache=writeback,engine=io_uring,"
                            "overlay=/tmp/ovl,bw=10M/500+1G,iops=1000",
                            "--drive", "path=data.img"});
    ASSERT_EQ(c.drives.size(), 2U);
    const auto& d = c.drives[0];
    EXPECT_EQ(d.path, "/img/root.ext4");
    EXPECT_EQ(d.id, "rootfs");
    EXPECT_TRUE(d.root);
    EXPECT_TRUE(d.read_only);
    EXPECT_EQ(d.cache_mode, CacheMode::kWriteback);
    EXPECT_EQ(d.engine, EngineKind::kIoUring);
    EXPECT_EQ(d.overlay, "/tmp/ovl");
    EXPECT_EQ(d.rate_limiter.bandwidth.size, 10U << 20);
    EXPECT_EQ(d.rate_limiter.bandwidth.refill_time_ms, 500U);
    EXPECT_EQ(d.rate_limiter.bandwidth.one_time_burst, 1U << 30);
    EXPECT_EQ(d.rate_limiter.ops.size, 1000U);
    EXPECT_EQ(d.rate_limiter.ops.refill_time_ms, 1000U);
    const auto& e = c.drives[1];
    EXPECT_EQ(e.path, "data.img");
    EXPECT_FALSE(e.root);
    EXPECT_FALSE(e.read_only);
    EXPECT_EQ(e.cache_mode, CacheMode::kUnsafe); // Firecracker's default
    EXPECT_EQ(e.engine, EngineKind::kSync);      // Firecracker's default
    EXPECT_FALSE(e.overlay);
    EXPECT_TRUE(e.rate_limiter.bandwidth.unlimited());
}

TEST(CliDrive, BadDrivesSayWhatIsWrong) {
    EXPECT_NE(error_of({"--drive", "id=x"}).find("path=IMAGE is missing"), std::string::npos);
    EXPECT_NE(error_of({"--drive", "path=a,size=3"}).find("unknown key 'size'"), std::string::npos);
    EXPECT_NE(error_of({"--drive", "path=a,cache=none"}).find("use unsafe"), std::string::npos);
    EXPECT_NE(error_of({"--drive", "path=a,engine=aio"}).find("io_uring"), std::string::npos);
    EXPECT_NE(error_of({"--drive", "path=a,bw=fast"}).find("not a number"), std::string::npos);
    EXPECT_NE(error_of({"--drive", "path=a,bw=1M/0"}).find("refill"), std::string::npos);
    EXPECT_NE(error_of({"--drive", "path=a,ro=yes"}).find("takes no value"), std::string::npos);
    EXPECT_NE(error_of({"--drive", "path=a,id="}).find("needs a value"), std::string::npos);
}

TEST(CliSeccomp, OnByDefaultOffOrFromAFile) {
    using Mode = jail::SeccompConfig::Mode;
    EXPECT_EQ(config_of({}).seccomp.mode,
              jail::kSeccompByDefault ? Mode::kBuiltIn : Mode::kOff);
    EXPECT_EQ(config_of({"--no-seccomp"}).seccomp.mode, Mode::kOff);
    const VmConfig file = config_of({"--seccomp-filter", "f.json"});
    EXPECT_EQ(file.seccomp.mode, Mode::kFile);
    EXPECT_EQ(file.seccomp.path, "f.json");
    EXPECT_NE(error_of({"--no-seccomp", "--seccomp-filter", "f.json"}).find("excludes"),
              std::string::npos);
}

TEST(Cli, EntropyWithAndWithoutLimits) {
    EXPECT_FALSE(config_of({}).entropy.has_value());
    VmConfig plain = config_of({"--entropy"});
    ASSERT_TRUE(plain.entropy.has_value());
    EXPECT_TRUE(plain.entropy->rate_limiter.bandwidth.unlimited());
    EXPECT_TRUE(plain.entropy->rate_limiter.ops.unlimited());
    // A flag after --entropy is not its value.
    VmConfig then = config_of({"--entropy", "--timings"});
    EXPECT_TRUE(then.entropy.has_value());
    EXPECT_TRUE(then.print_timings);
    VmConfig limited = config_of({"--entropy", "bw=1K/100+64,ops=10"});
    ASSERT_TRUE(limited.entropy.has_value());
    EXPECT_EQ(limited.entropy->rate_limiter.bandwidth, (TokenBucketConfig{1024, 64, 100}));
    EXPECT_EQ(limited.entropy->rate_limiter.ops, (TokenBucketConfig{10, 0, 1000}));
    EXPECT_NE(error_of({"--entropy", "speed=1"}).find("--entropy: unknown key 'speed'"),
              std::string::npos);
    EXPECT_NE(error_of({"--entropy", "bw=x"}).find("--entropy bw=x: not a number"),
              std::string::npos);
    EXPECT_NE(error_of({"--entropy", "ops="}).find("--entropy ops: needs a value"),
              std::string::npos);
}

TEST(Cli, NetInterfaces) {
    VmConfig c = config_of({"--net",
                            "tap=tap0,id=eth0,mac=06:00:AC:10:00:02,mtu=1400,rx-bw=10M,"
                            "tx-ops=1000/100",
                            "--net", "tap=tap1"});
    ASSERT_EQ(c.nets.size(), 2U);
    EXPECT_EQ(c.nets[0].tap, "tap0");
    EXPECT_EQ(c.nets[0].id, "eth0");
    EXPECT_EQ(c.nets[0].mac, (virtio::net::MacAddress{6, 0, 0xac, 0x10, 0, 2}));
    EXPECT_EQ(c.nets[0].mtu, 1400);
    EXPECT_EQ(c.nets[0].rx_rate_limiter.bandwidth, (TokenBucketConfig{10U << 20, 0, 1000}));
    EXPECT_TRUE(c.nets[0].rx_rate_limiter.ops.unlimited());
    EXPECT_EQ(c.nets[0].tx_rate_limiter.ops, (TokenBucketConfig{1000, 0, 100}));
    EXPECT_EQ(c.nets[1].tap, "tap1");
    EXPECT_FALSE(c.nets[1].mac.has_value());
    EXPECT_FALSE(c.nets[1].mtu.has_value());
}

TEST(Cli, NetMistakesNameTheKey) {
    EXPECT_NE(error_of({"--net", "id=x"}).find("tap=NAME is missing"), std::string::npos);
    EXPECT_NE(error_of({"--net", "id=x"}).find("ip tuntap add dev tap0 mode tap"),
              std::string::npos);
    EXPECT_NE(error_of({"--net", "tap=a-name-of-16-bytes"}).find("at most 15 bytes"),
              std::string::npos);
    EXPECT_NE(error_of({"--net", "tap=t,mac=06:00:ac:10:00"}).find("--net mac=06:00:ac:10:00"),
              std::string::npos);
    EXPECT_NE(error_of({"--net", "tap=t,mac=06-00-ac-10-00-02"}).find("six hex bytes"),
              std::string::npos);
    EXPECT_NE(error_of({"--net", "tap=t,mtu=67"}).find("--net mtu=67: use a number in 68..65535"),
              std::string::npos);
    EXPECT_NE(error_of({"--net", "tap=t,mtu=65536"}).find("68..65535"), std::string::npos);
    EXPECT_NE(error_of({"--net", "tap=t,rx-bw=1/0"}).find("--net rx-bw=1/0"), std::string::npos);
    EXPECT_NE(error_of({"--net", "tap=t,speed=1"}).find("unknown key 'speed'"), std::string::npos);
    EXPECT_NE(error_of({"--net", "tap"}).find("--net tap: needs a value"), std::string::npos);
}

} // namespace
} // namespace ember
