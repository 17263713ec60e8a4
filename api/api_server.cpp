#include "api/api_server.hpp"

#include "api/router.hpp"
#include "vmm/core/event_loop.hpp"
#include "vmm/sys/unique_fd.hpp"

#include <sys/signalfd.h>
#include <unistd.h>

#include <csignal>

namespace ember::api {

Result<std::unique_ptr<ApiServer>> ApiServer::start(const std::string& path,
                                                    const http::ServerOptions& options) {
    std::unique_ptr<ApiServer> api(new ApiServer());
    auto channel = ActionChannel::create();
    if (!channel) return tl::unexpected(std::move(channel.error()));
    api->channel_ = std::move(*channel);
    auto server = http::HttpServer::create(
        path, options, [channel = api->channel_.get()](const http::Request& request) {
            Routed routed = route(request);
            if (auto* answer = std::get_if<http::Response>(&routed)) return std::move(*answer);
            return channel->call(std::get<VmmAction>(std::move(routed)));
        });
    if (!server) return tl::unexpected(std::move(server.error()).with_context("--api-sock"));
    api->server_ = std::move(*server);
    return api;
}

ApiServer::~ApiServer() {
    stop();
}

Result<int> ApiServer::serve_until_started(Controller& controller) {
    sigset_t set;
    sigemptyset(&set);
    for (int s : {SIGINT, SIGTERM, SIGHUP})
        sigaddset(&set, s);
    const int sfd = ::signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (sfd < 0) return sys_error(Errc::kOsError, "signalfd");
    const UniqueFd signal_fd(sfd);
    auto loop = EventLoop::create();
    if (!loop) return tl::unexpected(std::move(loop.error()));
    int signo = 0;
    EMBER_TRY_VOID(loop->add(signal_fd.get(), EPOLLIN, [&](uint32_t) {
        signalfd_siginfo info{};
        if (::read(signal_fd.get(), &info, sizeof info) != static_cast<ssize_t>(sizeof info))
            return;
        signo = static_cast<int>(info.ssi_signo);
        loop->stop();
    }));
    EMBER_TRY_VOID(loop->add(channel_->fd(), EPOLLIN, [&](uint32_t) {
        channel_->serve([&](const VmmAction& action) { return controller.handle(action); });
        if (controller.started()) loop->stop();
    }));
    EMBER_TRY_VOID(loop->run());
    return signo;
}

Result<void> ApiServer::serve_in(Vmm& vmm, Controller& controller) {
    return vmm.watch(channel_->fd(), [this, &controller] {
        channel_->serve([&](const VmmAction& action) { return controller.handle(action); });
    });
}

void ApiServer::stop() {
    if (channel_) channel_->close();
    if (server_) server_->stop();
}

} // namespace ember::api
