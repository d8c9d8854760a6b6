// The HTTP and WebSocket server of `worldloop serve`, on Boost.Beast: one
// page at "/", one socket at "/ws", nothing else. It knows nothing about
// worlds: it sends each client a hello, then the newest status and the newest
// frame, and hands what clients send to a callback.
//
// Bounded everywhere:
// - requests: 8 KiB of headers, no bodies; 10 s to send one;
// - client messages: max_message_bytes (a larger one closes that client);
// - clients: max_clients (more get 503);
// - what waits for a client: one frame and one status. A newer frame
//   replaces a waiting one (counted as dropped), so a slow client gets fewer
//   frames, never a growing queue; a write that makes no progress for
//   stalled_write_limit closes the client.
// Access: on a loopback address only Host names of this machine are served
// (no DNS rebinding); when `token` is set the page and the socket need
// ?token=...; a browser's socket must come from the page's own origin.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace wl::app {

struct WebServerOptions {
  std::string bind = "127.0.0.1";
  uint16_t port = 0;  // 0: a free port (port() says which)
  std::string token;  // required when non-empty
  int max_clients = 8;
  size_t max_message_bytes = 4096;
  std::string page_html;
  std::chrono::milliseconds stalled_write_limit{20000};
};

struct WebServerStats {
  int clients = 0;              // connected sockets now
  int64_t connections = 0;      // sockets accepted so far
  int64_t refused = 0;          // requests refused (token, host, origin, full, bad)
  int64_t frames_sent = 0;
  int64_t frames_dropped = 0;   // replaced while waiting for a slow client
  int64_t closed_stalled = 0;   // clients closed for a write that made no progress
  int64_t bytes_waiting = 0;    // in frames and statuses waiting for clients now
};

class WebServer {
 public:
  // Both callbacks run on the server's thread and must not block.
  using MessageHandler = std::function<void(int client, const std::string& text)>;
  using CloseHandler = std::function<void(int client)>;

  // Binds and starts serving; throws naming the address when it cannot.
  WebServer(WebServerOptions options, MessageHandler on_message, CloseHandler on_close);
  ~WebServer();  // stop()
  WebServer(const WebServer&) = delete;
  WebServer& operator=(const WebServer&) = delete;

  uint16_t port() const;
  // Sent first to every client that connects from now on (any thread).
  void set_hello(std::string json);
  // To every client, replacing what waits there (any thread).
  void publish_frame(std::shared_ptr<const std::string> binary);
  void publish_status(std::shared_ptr<const std::string> json);
  WebServerStats stats() const;
  void stop();

  struct Impl;  // web_server.cpp (its sessions reach it)

 private:
  std::unique_ptr<Impl> impl_;
};

// True for 127.0.0.0/8, ::1 and "localhost".
bool is_loopback_address(const std::string& address);

}  // namespace wl::app
