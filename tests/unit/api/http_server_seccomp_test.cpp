// The API thread under its seccomp filter (jail/filters/api.cpp): installed by the server's
// thread-start hook, it serves curl and raw clients; a call the filter leaves out ends the
// process with 148 and names the api thread.
#include "api/http/http_server.hpp"
#include "http_client.hpp"
#include "jail/filters/allowlists.hpp"
#include "jail/seccomp.hpp"
#include "jail/seccomp_filter.hpp"
#include "vmm/sys/exit_code.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <csignal>
#include <cstdio>
#include <cstdlib>

namespace ember::api::http {
namespace {

using testing::RawClient;
using testing::TempSocketPath;

Response echo(const Request& r) {
    return Response::json(Status::kOk,
                          fmt::format(R"({{"path":"{}","body":"{}"}})", r.path, r.body));
}

ServerOptions jailed(const jail::Allowlist& list) {
    auto filter = jail::SeccompFilter::compile(jail::ThreadKind::kApi, list);
    EXPECT_TRUE(filter.has_value()) << filter.error().describe();
    ServerOptions options;
    options.thread_start_hook = [f = std::move(*filter)] { return f.apply(); };
    return options;
}

std::string run(const std::string& command) {
    std::string out;
    FILE* p = ::popen(("timeout 20 " + command).c_str(), "r");
    if (p == nullptr) return out;
    std::array<char, 4096> buf{};
    size_t n = 0;
    while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0)
        out.append(buf.data(), n);
    ::pclose(p);
    return out;
}

TEST(HttpServerSeccomp, CurlIsServedUnderTheApiFilter) {
    if (!jail::kSeccompByDefault)
        GTEST_SKIP() << "sanitizer build: ASan and UBSan make system calls no filter lists";
    if (std::system("curl --version >/dev/null 2>&1") != 0) GTEST_SKIP() << "curl is not installed";
    TempSocketPath path;
    auto server = HttpServer::create(path.str(), jailed(jail::api_allowlist()), echo);
    ASSERT_TRUE(server.has_value()) << server.error().describe();
    const std::string curl = "curl -s --unix-socket " + path.str();
    for (int i = 0; i < 3; ++i)
        EXPECT_EQ(run(curl + " http://localhost/machine-config"),
                  R"({"path":"/machine-config","body":""})");
    EXPECT_EQ(run(curl + " -X PUT -d hello http://localhost/x"), R"({"path":"/x","body":"hello"})");
    // A malformed request is refused by the server itself, still under the filter.
    RawClient raw(path.str());
    auto reply = raw.request("NONSENSE\r\n\r\n");
    ASSERT_TRUE(reply.has_value());
    EXPECT_EQ(reply->status, 400);
    (*server)->stop(); // the thread exits under its filter
    EXPECT_EQ((*server)->stats().requests, 4U);
}

TEST(HttpServerSeccomp, AFailingHookFailsCreate) {
    TempSocketPath path;
    ServerOptions options;
    options.thread_start_hook = []() -> Result<void> {
        return make_error(Errc::kOsError, "no filter today");
    };
    auto server = HttpServer::create(path.str(), options, echo);
    ASSERT_FALSE(server.has_value());
    EXPECT_EQ(server.error().message(), "no filter today");
}

TEST(HttpServerSeccompDeathTest, AForbiddenCallEndsEmberWith148AndNamesTheApiThread) {
    if (!jail::kSeccompByDefault)
        GTEST_SKIP() << "sanitizer build: ASan and UBSan make system calls no filter lists";
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    jail::Allowlist list = jail::api_allowlist();
    std::erase_if(list, [](const jail::SyscallRule& r) { return r.name == "accept4"; });
    EXPECT_EXIT(
        {
            TempSocketPath path;
            auto server = HttpServer::create(path.str(), jailed(list), echo);
            if (server) {
                RawClient client(path.str()); // the server thread's accept4 is forbidden
                (void)client.read_reply(5000);
            }
            std::_Exit(0);
        },
        ::testing::ExitedWithCode(to_int(ExitCode::kSeccompViolation)),
        "seccomp: the api thread made a forbidden system call: 288 \\(accept4\\)");
}

} // namespace
} // namespace ember::api::http
