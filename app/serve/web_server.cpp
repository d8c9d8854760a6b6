#include "app/serve/web_server.h"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>
#include <utility>  // before Asio: Boost 1.74's awaitable.hpp needs std::exchange
#include <vector>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

namespace wl::app {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using Message = std::shared_ptr<const std::string>;

constexpr size_t kMaxHeaderBytes = 8192;
constexpr std::chrono::seconds kRequestTimeout{10};

// "/ws?token=abc" -> "/ws" and the token parameter ("" when absent).
void split_target(beast::string_view target, std::string& path, std::string& token) {
  const std::string t(target);
  const size_t q = t.find('?');
  path = t.substr(0, q);
  token.clear();
  if (q == std::string::npos) return;
  const std::string query = t.substr(q + 1);
  size_t at = 0;
  while (at <= query.size()) {
    const size_t end = std::min(query.find('&', at), query.size());
    const std::string kv = query.substr(at, end - at);
    if (kv.rfind("token=", 0) == 0) token = kv.substr(6);
    at = end + 1;
  }
}

// Same length and bytes, in time that does not depend on where they differ.
bool same_token(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

// The host part of a Host header: "[::1]:8080" -> "[::1]", "localhost:80" -> "localhost".
std::string host_name(beast::string_view host) {
  std::string h(host);
  if (!h.empty() && h[0] == '[') {
    const size_t close = h.find(']');
    return close == std::string::npos ? h : h.substr(0, close + 1);
  }
  const size_t colon = h.find(':');
  return colon == std::string::npos ? h : h.substr(0, colon);
}

}  // namespace

bool is_loopback_address(const std::string& address) {
  if (address == "localhost") return true;
  boost::system::error_code ec;
  const asio::ip::address a = asio::ip::make_address(address, ec);
  return !ec && a.is_loopback();
}

class WsSession;

struct WebServer::Impl {
  WebServerOptions opt;
  MessageHandler on_message;
  CloseHandler on_close;
  bool loopback = true;
  std::atomic<bool> stopped{false};
  uint16_t port = 0;

  std::mutex hello_mu;
  Message hello = std::make_shared<const std::string>("{}");

  // Server thread only.
  std::vector<std::weak_ptr<WsSession>> sessions;
  int next_id = 1;

  std::atomic<int> clients{0};
  std::atomic<int64_t> connections{0}, refused{0}, frames_sent{0}, frames_dropped{0}, closed_stalled{0},
      bytes_waiting{0};

  // Last, so that they go first: the sessions still queued in the context
  // are destroyed with it and touch the counters above.
  asio::io_context ioc{1};
  tcp::acceptor acceptor{ioc};
  asio::steady_timer stall_timer{ioc};
  std::thread thread;

  void accept();
  void check_stalled();
  int live_sessions();
  Message current_hello() {
    std::lock_guard<std::mutex> lock(hello_mu);
    return hello;
  }
  // Why a request may not be served ("" when it may): a Host that is not
  // this machine's on a loopback bind, or a missing or wrong token.
  std::string refusal(const http::request<http::string_body>& req, const std::string& token) const {
    const auto host = req.find(http::field::host);
    if (host == req.end()) return "no Host header";
    if (loopback) {
      const std::string h = host_name(host->value());
      if (h != "localhost" && !is_loopback_address(h == "[::1]" ? "::1" : h))
        return "Host '" + std::string(host->value()) + "' is not this machine";
    }
    if (!opt.token.empty() && !same_token(token, opt.token)) return "a token is required (the one printed at start)";
    return {};
  }
};

class WsSession : public std::enable_shared_from_this<WsSession> {
 public:
  WsSession(tcp::socket socket, WebServer::Impl& server, int id) : ws_(std::move(socket)), server_(server), id_(id) {}
  ~WsSession() {
    server_.bytes_waiting -= waiting_bytes(frame_) + waiting_bytes(status_) + waiting_bytes(hello_);
  }

  void run(http::request<http::string_body> req) {
    beast::get_lowest_layer(ws_).expires_never();  // the websocket's own timeouts from here on
    websocket::stream_base::timeout t = websocket::stream_base::timeout::suggested(beast::role_type::server);
    t.idle_timeout = std::chrono::seconds(30);  // a peer silent this long (pings unanswered) is closed
    t.keep_alive_pings = true;
    ws_.set_option(t);
    ws_.read_message_max(server_.opt.max_message_bytes);
    ws_.set_option(websocket::stream_base::decorator(
        [](websocket::response_type& res) { res.set(http::field::server, "worldloop"); }));
    req_ = std::move(req);  // kept until the handshake completes
    ws_.async_accept(req_, beast::bind_front_handler(&WsSession::on_accept, shared_from_this()));
  }

  void offer_frame(const Message& m) {
    if (!accepted_) return;
    if (frame_) ++server_.frames_dropped;
    replace(frame_, m);
    write_next();
  }
  void offer_status(const Message& m) {
    if (!accepted_) return;
    replace(status_, m);
    write_next();
  }
  // Closes the socket when a write has made no progress for too long.
  void close_if_stalled(Clock::time_point now) {
    if (!writing_ || now - write_started_ < server_.opt.stalled_write_limit) return;
    ++server_.closed_stalled;
    beast::get_lowest_layer(ws_).close();  // the pending read and write fail; on_read ends the session
  }

 private:
  static int64_t waiting_bytes(const Message& m) { return m ? static_cast<int64_t>(m->size()) : 0; }
  void replace(Message& slot, const Message& m) {
    server_.bytes_waiting += waiting_bytes(m) - waiting_bytes(slot);
    slot = m;
  }

  void on_accept(beast::error_code ec) {
    if (ec) return;
    accepted_ = true;
    ++server_.clients;
    server_.sessions.push_back(weak_from_this());
    replace(hello_, server_.current_hello());
    write_next();
    read();
  }

  void read() { ws_.async_read(buffer_, beast::bind_front_handler(&WsSession::on_read, shared_from_this())); }

  void on_read(beast::error_code ec, size_t) {
    if (ec) {
      // Closed by the peer, too large a message (Beast has sent close 1009),
      // a timeout or the server stopping: this client is gone.
      if (accepted_) {
        accepted_ = false;
        --server_.clients;
        if (server_.on_close && !server_.stopped) server_.on_close(id_);
      }
      return;
    }
    if (ws_.got_text() && server_.on_message)
      server_.on_message(id_, beast::buffers_to_string(buffer_.data()));
    buffer_.consume(buffer_.size());
    read();
  }

  void write_next() {
    if (writing_ || !accepted_) return;
    Message* slot = hello_ ? &hello_ : status_ ? &status_ : frame_ ? &frame_ : nullptr;
    if (!slot) return;
    const bool binary = slot == &frame_;
    Message m = *slot;
    replace(*slot, nullptr);
    writing_ = true;
    write_started_ = Clock::now();
    ws_.binary(binary);
    ws_.async_write(asio::buffer(*m), [self = shared_from_this(), m, binary](beast::error_code ec, size_t) {
      self->writing_ = false;
      if (ec) return;  // the read side sees the failure and ends the session
      if (binary) ++self->server_.frames_sent;
      self->write_next();
    });
  }

  websocket::stream<beast::tcp_stream> ws_;
  http::request<http::string_body> req_;
  beast::flat_buffer buffer_;
  WebServer::Impl& server_;
  const int id_;
  bool accepted_ = false;
  bool writing_ = false;
  Clock::time_point write_started_{};
  Message hello_, status_, frame_;  // what waits: at most one of each
};

class HttpSession : public std::enable_shared_from_this<HttpSession> {
 public:
  HttpSession(tcp::socket socket, WebServer::Impl& server) : stream_(std::move(socket)), server_(server) {}
  void run() { read(); }

 private:
  void read() {
    parser_.emplace();
    parser_->header_limit(kMaxHeaderBytes);
    parser_->body_limit(0);
    stream_.expires_after(kRequestTimeout);
    http::async_read(stream_, buffer_, *parser_, beast::bind_front_handler(&HttpSession::on_read, shared_from_this()));
  }

  void on_read(beast::error_code ec, size_t) {
    if (ec == http::error::end_of_stream) {
      stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
      return;
    }
    if (ec) {
      // Headers over the limit, a body, garbage or a timeout: say so when
      // the request got that far, then close.
      if (ec == http::error::header_limit || ec == http::error::body_limit || ec == http::error::bad_method ||
          ec == http::error::bad_target || ec == http::error::bad_version) {
        ++server_.refused;
        send_error(ec == http::error::header_limit ? http::status::request_header_fields_too_large
                                                   : http::status::bad_request,
                   ec.message(), false);
      }
      return;
    }
    http::request<http::string_body> req = parser_->release();
    std::string path, token;
    split_target(req.target(), path, token);
    const std::string why = server_.refusal(req, token);
    if (!why.empty()) {
      ++server_.refused;
      return send_error(http::status::forbidden, why, false);
    }
    if (websocket::is_upgrade(req)) {
      if (path != "/ws") {
        ++server_.refused;
        return send_error(http::status::not_found, "the socket is at /ws", false);
      }
      // A browser says where the page came from: only this server's own page
      // may open the socket (no other site can play through it).
      const auto origin = req.find(http::field::origin);
      if (origin != req.end()) {
        const std::string expected = "http://" + std::string(req[http::field::host]);
        if (origin->value() != expected) {
          ++server_.refused;
          return send_error(http::status::forbidden, "origin '" + std::string(origin->value()) + "' is not this page",
                            false);
        }
      }
      if (server_.live_sessions() >= server_.opt.max_clients) {
        ++server_.refused;
        return send_error(http::status::service_unavailable,
                          std::to_string(server_.opt.max_clients) + " clients are connected already", false);
      }
      ++server_.connections;
      std::make_shared<WsSession>(stream_.release_socket(), server_, server_.next_id++)->run(std::move(req));
      return;
    }
    if (req.method() != http::verb::get && req.method() != http::verb::head)
      return send_error(http::status::method_not_allowed, "only GET", req.keep_alive());
    if (path != "/" && path != "/index.html")
      return send_error(http::status::not_found, "not found", req.keep_alive());
    auto res = std::make_shared<http::response<http::string_body>>(http::status::ok, req.version());
    res->set(http::field::server, "worldloop");
    res->set(http::field::content_type, "text/html; charset=utf-8");
    res->set(http::field::cache_control, "no-store");
    res->set("X-Content-Type-Options", "nosniff");
    res->set("Content-Security-Policy",
             "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src blob: data:; "
             "connect-src 'self'");
    if (req.method() == http::verb::get) res->body() = server_.opt.page_html;
    res->content_length(server_.opt.page_html.size());
    res->keep_alive(req.keep_alive());
    write(res);
  }

  void send_error(http::status status, const std::string& why, bool keep_alive) {
    auto res = std::make_shared<http::response<http::string_body>>(status, 11);
    res->set(http::field::server, "worldloop");
    res->set(http::field::content_type, "text/plain; charset=utf-8");
    res->body() = "worldloop serve: " + why + "\n";
    res->prepare_payload();
    res->keep_alive(keep_alive);
    write(res);
  }

  void write(const std::shared_ptr<http::response<http::string_body>>& res) {
    http::async_write(stream_, *res, [self = shared_from_this(), res](beast::error_code ec, size_t) {
      if (ec) return;
      if (res->keep_alive()) return self->read();
      self->stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    });
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_{kMaxHeaderBytes};
  WebServer::Impl& server_;
  std::optional<http::request_parser<http::string_body>> parser_;
};

void WebServer::Impl::accept() {
  acceptor.async_accept([this](beast::error_code ec, tcp::socket socket) {
    if (stopped) return;
    if (!ec) std::make_shared<HttpSession>(std::move(socket), *this)->run();
    accept();
  });
}

int WebServer::Impl::live_sessions() {
  sessions.erase(std::remove_if(sessions.begin(), sessions.end(), [](const auto& w) { return w.expired(); }),
                 sessions.end());
  return clients.load();
}

void WebServer::Impl::check_stalled() {
  stall_timer.expires_after(std::chrono::milliseconds(500));
  stall_timer.async_wait([this](beast::error_code ec) {
    if (ec || stopped) return;
    const auto now = Clock::now();
    for (const auto& w : sessions)
      if (auto s = w.lock()) s->close_if_stalled(now);
    live_sessions();
    check_stalled();
  });
}

WebServer::WebServer(WebServerOptions options, MessageHandler on_message, CloseHandler on_close)
    : impl_(std::make_unique<Impl>()) {
  Impl& s = *impl_;
  s.opt = std::move(options);
  s.on_message = std::move(on_message);
  s.on_close = std::move(on_close);
  s.loopback = is_loopback_address(s.opt.bind);
  if (s.opt.max_clients < 1) throw std::invalid_argument("serve: max clients must be at least 1");
  boost::system::error_code ec;
  const asio::ip::address address =
      s.opt.bind == "localhost" ? asio::ip::make_address("127.0.0.1") : asio::ip::make_address(s.opt.bind, ec);
  if (ec) throw std::invalid_argument("--bind '" + s.opt.bind + "' is not an IP address (" + ec.message() + ")");
  const tcp::endpoint endpoint(address, s.opt.port);
  const std::string where = s.opt.bind + ":" + std::to_string(s.opt.port);
  s.acceptor.open(endpoint.protocol(), ec);
  if (!ec) s.acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) s.acceptor.bind(endpoint, ec);
  if (!ec) s.acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) throw std::runtime_error("serve: cannot listen on " + where + ": " + ec.message());
  s.port = s.acceptor.local_endpoint().port();
  s.accept();
  s.check_stalled();
  s.thread = std::thread([&s] { s.ioc.run(); });
}

WebServer::~WebServer() { stop(); }

void WebServer::stop() {
  Impl& s = *impl_;
  if (s.stopped.exchange(true)) return;
  s.ioc.stop();
  if (s.thread.joinable()) s.thread.join();
}

uint16_t WebServer::port() const { return impl_->port; }

void WebServer::set_hello(std::string json) {
  std::lock_guard<std::mutex> lock(impl_->hello_mu);
  impl_->hello = std::make_shared<const std::string>(std::move(json));
}

void WebServer::publish_frame(std::shared_ptr<const std::string> binary) {
  Impl& s = *impl_;
  asio::post(s.ioc, [&s, m = std::move(binary)] {
    for (const auto& w : s.sessions)
      if (auto session = w.lock()) session->offer_frame(m);
  });
}

void WebServer::publish_status(std::shared_ptr<const std::string> json) {
  Impl& s = *impl_;
  asio::post(s.ioc, [&s, m = std::move(json)] {
    for (const auto& w : s.sessions)
      if (auto session = w.lock()) session->offer_status(m);
  });
}

WebServerStats WebServer::stats() const {
  const Impl& s = *impl_;
  WebServerStats st;
  st.clients = s.clients;
  st.connections = s.connections;
  st.refused = s.refused;
  st.frames_sent = s.frames_sent;
  st.frames_dropped = s.frames_dropped;
  st.closed_stalled = s.closed_stalled;
  st.bytes_waiting = s.bytes_waiting;
  return st;
}

}  // namespace wl::app
