// Firecracker's flow through the jail: ember-jailer starts ember with its API socket in the
// jail, the kernel is hard-linked (here copied) into the jail, and the guest boots over the API.
#include "tests/jail/child.hpp"
#include "tests/jail/jail_fixture.hpp"
#include "tests/kvm/api_client.hpp"

#include <signal.h>

#include <chrono>
#include <thread>

namespace ember::test {
namespace {

bool wait_for(const std::string& path, int timeout_ms) {
    for (int waited = 0; waited < timeout_ms; waited += 10) {
        if (std::filesystem::exists(path)) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
}

TEST_F(JailTest, GuestBootsOverTheApiSocketInTheJail) {
    if (!EMBER_STATIC_BUILD) GTEST_SKIP() << "ember is linked dynamically (sanitizer build)";
    if (::access("/dev/kvm", R_OK | W_OK) != 0) GTEST_SKIP() << "no usable /dev/kvm";
    Child child(jailer(EMBER_BINARY, {"--new-pid-ns", "--", "--api-sock", "/api.sock"}));
    // After a failed assertion, ember (PID 1 of its namespace, so not our child) must not
    // outlive the test. Its pid cannot be reused meanwhile: the jailer has not reaped it yet.
    struct KillEmber {
        std::string pid_file;
        bool armed = true;
        ~KillEmber() {
            if (armed && std::filesystem::exists(pid_file))
                ::kill(std::stoi(slurp(pid_file)), SIGKILL);
        }
    } kill_ember{root("ember") + "/ember.pid"};
    // A Unix socket path has at most 107 bytes: reach the jail through a short link.
    const std::string link = fmt::format("/tmp/ejt-api-{}", ::getpid());
    std::filesystem::remove(link);
    std::filesystem::create_directory_symlink(root("ember"), link);
    struct Unlink {
        std::string path;
        ~Unlink() { std::filesystem::remove(path); }
    } unlink_link{link};
    const std::string sock = link + "/api.sock";
    ASSERT_TRUE(wait_for(root("ember") + "/api.sock", 10000)) << child.finish() << child.err;
    const auto info = curl(sock, "GET", "/");
    EXPECT_EQ(info.status, 200);
    EXPECT_NE(info.body.find(fmt::format(R"("id":"{}")", id_)), std::string::npos) << info.body;
    std::filesystem::copy_file(std::string(EMBER_GUEST_DIR) + "/hello.elf",
                               root("ember") + "/hello.elf");
    EXPECT_EQ(curl(sock, "PUT", "/boot-source", R"({"kernel_image_path":"/hello.elf"})").status,
              204);
    EXPECT_EQ(curl(sock, "PUT", "/actions", R"({"action_type":"InstanceStart"})").status, 204);
    const int status = child.finish();
    kill_ember.armed = false;
    EXPECT_EQ(status, 0) << child.err;
    EXPECT_NE(child.out.find("Hello from ember!"), std::string::npos) << child.out;
}

} // namespace
} // namespace ember::test
