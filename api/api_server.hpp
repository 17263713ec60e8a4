// ApiServer: ember's REST API as a whole — the HTTP server thread, where the router turns each
// request into a VmmAction (or answers it), and the ActionChannel to the VMM thread, where the
// Controller answers the actions. Before boot the VMM thread serves the channel in a small loop
// of its own (serve_until_started); after InstanceStart, the VM's event loop does (serve_in).
#pragma once

#include "api/action_channel.hpp"
#include "api/controller.hpp"
#include "api/http/http_server.hpp"

#include <memory>
#include <string>

namespace ember::api {

class ApiServer final {
public:
    // Listens on `path`. Call with SIGINT/SIGTERM/SIGHUP blocked, so that the server thread
    // inherits the mask and the VMM thread's signalfd gets them.
    static Result<std::unique_ptr<ApiServer>> start(const std::string& path,
                                                    const http::ServerOptions& options);
    ~ApiServer();
    ApiServer(const ApiServer&) = delete;
    ApiServer& operator=(const ApiServer&) = delete;
    ApiServer(ApiServer&&) = delete;
    ApiServer& operator=(ApiServer&&) = delete;

    // VMM thread, before boot: answers actions with `controller` until the VM started (returns
    // 0) or a termination signal arrived (returns its number).
    Result<int> serve_until_started(Controller& controller);
    // Hands the channel to the running VM's event loop.
    Result<void> serve_in(Vmm& vmm, Controller& controller);
    // Answers what is still queued with 503, closes the socket and joins the thread.
    void stop();

    [[nodiscard]] http::ServerStats stats() const { return server_->stats(); }

private:
    ApiServer() = default;
    std::unique_ptr<ActionChannel> channel_;
    std::unique_ptr<http::HttpServer> server_;
};

} // namespace ember::api
