// `worldloop serve` (app/serve/): its message parser, key names, JPEG frames,
// and the web server's rules (page, token, Host, Origin, limits, slow and
// stalled clients), in process through a Boost.Beast client; then the real
// executable through 100 connect/disconnect cycles and a stopped client.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <regex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <turbojpeg.h>

#include "app/serve/browser_keys.h"
#include "app/serve/jpeg_encoder.h"
#include "app/serve/serve_protocol.h"
#include "app/serve/web_server.h"
#include "runtime/core/actions.h"

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using namespace wl::app;
using namespace std::chrono_literals;

// --- messages -----------------------------------------------------------

TEST(ServeProtocol, ParsesEveryMessageKind) {
  ClientMessage m = parse_client_message(R"({"type":"keys","held":["forward","look_left"]})");
  EXPECT_EQ(m.kind, ClientMessage::Kind::Keys);
  EXPECT_EQ(m.keys, wl::kActForward | wl::kActLookLeft);
  EXPECT_EQ(parse_client_message(R"({"type":"keys","held":[]})").keys, 0u);
  m = parse_client_message(R"({"type":"prompt","text":"snowy forest"})");
  EXPECT_EQ(m.kind, ClientMessage::Kind::Prompt);
  EXPECT_EQ(m.text, "snowy forest");
  m = parse_client_message(R"({"type":"command","name":"step"})");
  EXPECT_EQ(m.kind, ClientMessage::Kind::Command);
  EXPECT_EQ(m.text, "step");
  m = parse_client_message(R"({"type":"cache","policy":"window","budget_frames":8})");
  EXPECT_EQ(m.kind, ClientMessage::Kind::Cache);
  EXPECT_EQ(m.text, "window");
  EXPECT_EQ(m.budget_frames, 8);
}

TEST(ServeProtocol, RefusesBadMessagesByName) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"not json", "not JSON"},
      {R"({"type":"cache","policy":"window","budget_frames":1e400})", "not JSON"},  // found by the fuzz corpus
      {"[1,2]", "JSON object"},
      {R"({"held":[]})", "no \"type\""},
      {R"({"type":"dance"})", "unknown message type 'dance'"},
      {R"({"type":"keys","held":["fly"]})", "unknown action 'fly'"},
      {R"({"type":"keys","held":"forward"})", "\"held\" must be"},
      {R"({"type":"keys","held":[1]})", "action names"},
      {R"({"type":"prompt","text":""})", "empty"},
      {R"({"type":"prompt","text":7})", "\"text\" must be a string"},
      {R"({"type":"command","name":"format-disk"})", "unknown command 'format-disk'"},
      {R"({"type":"cache","policy":"window","budget_frames":-1})", "budget_frames"},
      {R"({"type":"cache","policy":"window","budget_frames":1e12})", "an integer"},
      {R"({"type":"cache","policy":"window","budget_frames":100000})", "budget_frames"},
      {"{\"type\":\"prompt\",\"text\":\"" + std::string(1200, 'a') + "\"}", "over 1000 bytes"},
      {std::string(kMaxClientMessageBytes + 1, ' '), "over the limit"},
  };
  for (const auto& [text, want] : cases) {
    try {
      parse_client_message(text);
      ADD_FAILURE() << "accepted: " << text.substr(0, 80);
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(want), std::string::npos) << e.what() << " for " << text.substr(0, 80);
    }
  }
}

TEST(ServeProtocol, FrameMessageIsHeaderThenJpeg) {
  const std::string m = frame_message(0x0102030405060708LL, 0x81u, "JPEG");
  ASSERT_EQ(m.size(), kFrameHeaderBytes + 4);
  EXPECT_EQ(static_cast<unsigned char>(m[0]), 0x08);
  EXPECT_EQ(static_cast<unsigned char>(m[7]), 0x01);
  EXPECT_EQ(static_cast<unsigned char>(m[8]), 0x81);
  EXPECT_EQ(static_cast<unsigned char>(m[11]), 0x00);
  EXPECT_EQ(m.substr(kFrameHeaderBytes), "JPEG");
}

TEST(ServeProtocol, HelloCarriesTheConfigsBindingsAsBrowserCodes) {
  PlayConfig config = PlayConfig::defaults();
  config.bindings["look_left"] = {"Left", "J"};
  ServeHello h;
  h.presets = {"a", "b"};
  add_key_maps(h, config);
  EXPECT_EQ(h.action_keys.at("KeyW"), "forward");
  EXPECT_EQ(h.action_keys.at("ArrowLeft"), "look_left");
  EXPECT_EQ(h.action_keys.at("KeyJ"), "look_left");
  EXPECT_EQ(h.command_keys.at("KeyP"), "pause");
  EXPECT_EQ(h.command_keys.at("Digit2"), "preset2");
  EXPECT_EQ(h.command_keys.count("Digit3"), 0u);  // two presets only
  EXPECT_EQ(h.command_keys.count("Escape"), 0u);  // quit is the window's, not a browser's
  const nlohmann::json j = nlohmann::json::parse(hello_json(h));
  EXPECT_EQ(j["type"], "hello");
  EXPECT_EQ(j["action_keys"]["KeyS"], "back");
}

TEST(BrowserKeys, MapsSdlNamesToKeyboardEventCodes) {
  EXPECT_EQ(browser_key_code("W"), "KeyW");
  EXPECT_EQ(browser_key_code("w"), "KeyW");
  EXPECT_EQ(browser_key_code("Up"), "ArrowUp");
  EXPECT_EQ(browser_key_code("Right"), "ArrowRight");
  EXPECT_EQ(browser_key_code("7"), "Digit7");
  EXPECT_EQ(browser_key_code("F12"), "F12");
  EXPECT_EQ(browser_key_code("Left Shift"), "ShiftLeft");
  EXPECT_EQ(browser_key_code("Keypad 4"), "Numpad4");
  EXPECT_EQ(browser_key_code("Space"), "Space");
  EXPECT_EQ(browser_key_code("F99"), "");
  EXPECT_EQ(browser_key_code("Hyper"), "");
}

// --- JPEG -----------------------------------------------------------------

TEST(JpegEncoder, OddSizedFramesComeBackClose) {
  std::mt19937 rng(7);
  for (auto [w, h] : {std::pair{37, 23}, std::pair{1, 1}, std::pair{64, 64}}) {
    // A smooth picture with a little noise: what a world looks like to JPEG.
    std::vector<uint8_t> rgb(static_cast<size_t>(w) * h * 3);
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x)
        for (int c = 0; c < 3; ++c)
          rgb[(static_cast<size_t>(y) * w + x) * 3 + c] = static_cast<uint8_t>(
              (x * 255 / std::max(1, w - 1) + y * 97 / std::max(1, h) + c * 60 + rng() % 9) % 256);
    JpegEncoder enc(95);
    const std::string jpeg = enc.encode(rgb.data(), w, h);
    ASSERT_GT(jpeg.size(), 100u);
    EXPECT_EQ(static_cast<unsigned char>(jpeg[0]), 0xFF);
    EXPECT_EQ(static_cast<unsigned char>(jpeg[1]), 0xD8);
    tjhandle d = tjInitDecompress();
    int dw = 0, dh = 0, sub = 0, space = 0;
    ASSERT_EQ(tjDecompressHeader3(d, reinterpret_cast<const unsigned char*>(jpeg.data()), jpeg.size(), &dw, &dh, &sub,
                                  &space), 0);
    EXPECT_EQ(dw, w);
    EXPECT_EQ(dh, h);
    EXPECT_EQ(sub, TJSAMP_444);
    std::vector<uint8_t> back(rgb.size());
    ASSERT_EQ(tjDecompress2(d, reinterpret_cast<const unsigned char*>(jpeg.data()), jpeg.size(), back.data(), w, 0, h,
                            TJPF_RGB, 0), 0);
    tjDestroy(d);
    double se = 0;
    for (size_t i = 0; i < rgb.size(); ++i) se += (double(rgb[i]) - back[i]) * (double(rgb[i]) - back[i]);
    const double psnr = se == 0 ? 99 : 10 * std::log10(255.0 * 255.0 / (se / rgb.size()));
    EXPECT_GT(psnr, 30.0) << w << "x" << h;
  }
}

TEST(JpegEncoder, RefusesBadQualityAndSizes) {
  EXPECT_THROW(JpegEncoder(0), std::invalid_argument);
  EXPECT_THROW(JpegEncoder(101), std::invalid_argument);
  JpegEncoder enc;
  uint8_t px[3] = {1, 2, 3};
  EXPECT_THROW(enc.encode(px, 0, 1), std::invalid_argument);
  EXPECT_THROW(enc.encode(px, 1, 1 << 20), std::invalid_argument);
}

// --- the web server, in process ----------------------------------------------

struct Received {
  std::mutex mu;
  std::vector<std::pair<int, std::string>> messages;
  std::atomic<int> closed{0};
};

std::unique_ptr<WebServer> start_server(Received& got, WebServerOptions o = {}) {
  o.port = 0;
  if (o.page_html.empty()) o.page_html = "<!doctype html><title>t</title>page";
  return std::make_unique<WebServer>(
      o,
      [&got](int client, const std::string& text) {
        std::lock_guard<std::mutex> lock(got.mu);
        got.messages.emplace_back(client, text);
      },
      [&got](int) { ++got.closed; });
}

struct HttpReply {
  int status = 0;
  std::string body;
};

HttpReply http_get(uint16_t port, const std::string& target, const std::string& host = "",
                   const std::string& extra_header = "") {
  asio::io_context ioc;
  tcp::socket s(ioc);
  s.connect({asio::ip::make_address("127.0.0.1"), port});
  http::request<http::empty_body> req(http::verb::get, target, 11);
  req.set(http::field::host, host.empty() ? "127.0.0.1:" + std::to_string(port) : host);
  if (!extra_header.empty()) req.set("X-Extra", extra_header);
  http::write(s, req);
  beast::flat_buffer buf;
  http::response<http::string_body> res;
  beast::error_code ec;
  http::read(s, buf, res, ec);
  if (ec) return {-1, ec.message()};
  return {static_cast<int>(res.result_int()), res.body()};
}

// A socket client; `origin` empty sends none (not a browser).
struct WsClient {
  asio::io_context ioc;
  websocket::stream<tcp::socket> ws{ioc};
  beast::error_code connect(uint16_t port, const std::string& target = "/ws", const std::string& origin = "",
                            int receive_buffer = 0) {
    beast::error_code ec;
    ws.next_layer().open(tcp::v4(), ec);
    if (receive_buffer > 0) ws.next_layer().set_option(asio::socket_base::receive_buffer_size(receive_buffer), ec);
    ws.next_layer().connect({asio::ip::make_address("127.0.0.1"), port}, ec);
    if (ec) return ec;
    if (!origin.empty())
      ws.set_option(websocket::stream_base::decorator(
          [origin](websocket::request_type& r) { r.set(http::field::origin, origin); }));
    ws.handshake("127.0.0.1:" + std::to_string(port), target, ec);
    return ec;
  }
  std::string read(bool* binary = nullptr) {
    beast::flat_buffer b;
    ws.read(b);
    if (binary) *binary = ws.got_binary();
    return beast::buffers_to_string(b.data());
  }
};

template <class Pred>
bool eventually(Pred p, std::chrono::milliseconds limit = 5000ms) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (p()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return p();
}

TEST(WebServer, ServesOnlyThePage) {
  Received got;
  auto server = start_server(got);
  const uint16_t port = server->port();
  HttpReply r = http_get(port, "/");
  EXPECT_EQ(r.status, 200);
  EXPECT_NE(r.body.find("page"), std::string::npos);
  EXPECT_EQ(http_get(port, "/index.html").status, 200);
  EXPECT_EQ(http_get(port, "/../../etc/passwd").status, 404);
  EXPECT_EQ(http_get(port, "/favicon.ico").status, 404);
  // DNS rebinding: a loopback server answers only to this machine's names.
  r = http_get(port, "/", "evil.example:" + std::to_string(port));
  EXPECT_EQ(r.status, 403);
  EXPECT_NE(r.body.find("not this machine"), std::string::npos) << r.body;
  EXPECT_EQ(http_get(port, "/", "localhost:" + std::to_string(port)).status, 200);
  // Headers over 8 KiB: refused, not buffered.
  EXPECT_EQ(http_get(port, "/", "", std::string(20000, 'x')).status, 431);
  EXPECT_GE(server->stats().refused, 2);
}

TEST(WebServer, TokenGuardsThePageAndTheSocket) {
  Received got;
  WebServerOptions o;
  o.token = "s3cret";
  auto server = start_server(got, o);
  const uint16_t port = server->port();
  EXPECT_EQ(http_get(port, "/").status, 403);
  EXPECT_EQ(http_get(port, "/?token=wrong").status, 403);
  EXPECT_EQ(http_get(port, "/?token=s3cre").status, 403);
  EXPECT_EQ(http_get(port, "/?token=s3cret").status, 200);
  EXPECT_EQ(http_get(port, "/?x=1&token=s3cret").status, 200);
  WsClient none, right;
  EXPECT_TRUE(none.connect(port, "/ws"));  // refused handshake
  EXPECT_FALSE(right.connect(port, "/ws?token=s3cret"));
  EXPECT_EQ(nlohmann::json::parse(right.read())["type"].is_null(), true);  // the default hello, "{}"
}

TEST(WebServer, OnlyThePagesOwnOriginMayOpenTheSocket) {
  Received got;
  auto server = start_server(got);
  const uint16_t port = server->port();
  WsClient other, own, tool;
  EXPECT_TRUE(other.connect(port, "/ws", "http://evil.example"));
  EXPECT_FALSE(own.connect(port, "/ws", "http://127.0.0.1:" + std::to_string(port)));
  EXPECT_FALSE(tool.connect(port, "/ws"));  // no Origin: not a browser page
  WsClient wrong_path;
  EXPECT_TRUE(wrong_path.connect(port, "/socket"));
}

TEST(WebServer, HelloThenTheNewestStatusAndFrame) {
  Received got;
  auto server = start_server(got);
  server->set_hello(R"({"type":"hello"})");
  WsClient c;
  ASSERT_FALSE(c.connect(server->port()));
  bool binary = true;
  EXPECT_EQ(c.read(&binary), R"({"type":"hello"})");
  EXPECT_FALSE(binary);
  ASSERT_TRUE(eventually([&] { return server->stats().clients == 1; }));
  server->publish_status(std::make_shared<const std::string>(R"({"type":"status"})"));
  server->publish_frame(std::make_shared<const std::string>("frame-bytes"));
  EXPECT_EQ(c.read(&binary), R"({"type":"status"})");
  EXPECT_FALSE(binary);
  EXPECT_EQ(c.read(&binary), "frame-bytes");
  EXPECT_TRUE(binary);
  c.ws.write(asio::buffer(std::string(R"({"type":"keys","held":["forward"]})")));
  ASSERT_TRUE(eventually([&] {
    std::lock_guard<std::mutex> lock(got.mu);
    return got.messages.size() == 1;
  }));
  EXPECT_EQ(got.messages[0].second, R"({"type":"keys","held":["forward"]})");
  c.ws.close(websocket::close_code::normal);
  EXPECT_TRUE(eventually([&] { return got.closed == 1 && server->stats().clients == 0; }));
}

TEST(WebServer, AnOversizedMessageClosesThatClientOnly) {
  Received got;
  WebServerOptions o;
  o.max_message_bytes = 1000;
  auto server = start_server(got, o);
  WsClient big, calm;
  ASSERT_FALSE(big.connect(server->port()));
  ASSERT_FALSE(calm.connect(server->port()));
  big.read();
  calm.read();
  beast::error_code ec;
  big.ws.write(asio::buffer(std::string(5000, 'x')), ec);  // may already fail: the server hangs up mid-message
  beast::flat_buffer b;
  beast::error_code read_ec;
  big.ws.read(b, read_ec);
  EXPECT_TRUE(read_ec) << "the oversized client is still served";
  if (read_ec == websocket::error::closed) {
    EXPECT_EQ(big.ws.reason().code, websocket::close_code::too_big);
  }
  EXPECT_TRUE(eventually([&] { return server->stats().clients == 1; }));
  server->publish_frame(std::make_shared<const std::string>("still here"));
  EXPECT_EQ(calm.read(), "still here");
  std::lock_guard<std::mutex> lock(got.mu);
  EXPECT_TRUE(got.messages.empty());
}

TEST(WebServer, RefusesClientsOverTheLimit) {
  Received got;
  WebServerOptions o;
  o.max_clients = 2;
  auto server = start_server(got, o);
  WsClient a, b, c;
  ASSERT_FALSE(a.connect(server->port()));
  ASSERT_FALSE(b.connect(server->port()));
  ASSERT_TRUE(eventually([&] { return server->stats().clients == 2; }));
  EXPECT_TRUE(c.connect(server->port()));  // 503
  a.ws.close(websocket::close_code::normal);
  ASSERT_TRUE(eventually([&] { return server->stats().clients == 1; }));
  WsClient d;
  EXPECT_FALSE(d.connect(server->port()));
}

TEST(WebServer, ASlowClientGetsFewerFramesNotAGrowingQueue) {
  Received got;
  auto server = start_server(got);
  WsClient slow, fast;
  ASSERT_FALSE(slow.connect(server->port(), "/ws", "", 4096));
  ASSERT_FALSE(fast.connect(server->port()));
  slow.read();  // the hello, then never again
  fast.read();
  ASSERT_TRUE(eventually([&] { return server->stats().clients == 2; }));
  std::atomic<bool> reading{true};
  std::atomic<int> fast_frames{0};
  std::thread reader([&] {
    try {
      while (reading) {
        fast.read();
        ++fast_frames;
      }
    } catch (const std::exception&) {
    }
  });
  const size_t kFrame = 256 * 1024;
  int64_t most_waiting = 0;
  for (int i = 0; i < 400; ++i) {
    server->publish_frame(std::make_shared<const std::string>(kFrame, static_cast<char>('a' + i % 26)));
    std::this_thread::sleep_for(2ms);
    most_waiting = std::max(most_waiting, server->stats().bytes_waiting);
  }
  EXPECT_TRUE(eventually([&] { return fast_frames >= 50; })) << fast_frames;
  const WebServerStats st = server->stats();
  reading = false;
  fast.ws.next_layer().shutdown(tcp::socket::shutdown_both);  // wakes the blocked read
  reader.join();
  // At most one frame waits per client (two clients, plus one in the post queue's hands).
  EXPECT_LE(most_waiting, static_cast<int64_t>(3 * kFrame));
  EXPECT_GT(st.frames_dropped, 100);
  std::fprintf(stderr, "fast client %d frames of 400; %lld dropped; at most %lld bytes waiting\n", fast_frames.load(),
               static_cast<long long>(st.frames_dropped), static_cast<long long>(most_waiting));
}

TEST(WebServer, AStalledClientIsClosed) {
  Received got;
  WebServerOptions o;
  o.stalled_write_limit = 300ms;
  auto server = start_server(got, o);
  WsClient stalled;
  ASSERT_FALSE(stalled.connect(server->port(), "/ws", "", 4096));
  stalled.read();
  ASSERT_TRUE(eventually([&] { return server->stats().clients == 1; }));
  for (int i = 0; i < 50; ++i) server->publish_frame(std::make_shared<const std::string>(1 << 20, 'z'));
  EXPECT_TRUE(eventually([&] { return server->stats().closed_stalled == 1 && server->stats().clients == 0; }))
      << server->stats().closed_stalled;
  EXPECT_EQ(got.closed, 1);
}

TEST(WebServer, HundredConnectCyclesLeaveNothingBehind) {
  Received got;
  auto server = start_server(got);
  for (int i = 0; i < 100; ++i) {
    WsClient c;
    ASSERT_FALSE(c.connect(server->port()));
    c.read();
    if (i % 2) c.ws.close(websocket::close_code::normal);  // else: dropped without a close frame
  }
  EXPECT_TRUE(eventually([&] { return server->stats().clients == 0 && got.closed == 100; }))
      << server->stats().clients << " " << got.closed;
  EXPECT_EQ(server->stats().connections, 100);
  EXPECT_EQ(server->stats().bytes_waiting, 0);
}

TEST(WebServer, RefusesAnAddressItCannotBind) {
  Received got;
  WebServerOptions o;
  o.bind = "not-an-address";
  EXPECT_THROW(start_server(got, o), std::invalid_argument);
  o.bind = "192.0.2.1";  // TEST-NET: not this machine's
  try {
    start_server(got, o);
    ADD_FAILURE() << "bound 192.0.2.1";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot listen on 192.0.2.1"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(is_loopback_address("127.0.0.1"));
  EXPECT_TRUE(is_loopback_address("127.8.9.1"));
  EXPECT_TRUE(is_loopback_address("::1"));
  EXPECT_TRUE(is_loopback_address("localhost"));
  EXPECT_FALSE(is_loopback_address("0.0.0.0"));
  EXPECT_FALSE(is_loopback_address("192.168.1.4"));
}

// --- the real executable ------------------------------------------------------

int64_t rss_kib(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stoll(line.substr(6));
  return -1;
}

// `worldloop serve --port 0` on the default world, its stderr in a file.
struct ServeProcess {
  std::filesystem::path dir;
  pid_t pid = -1;
  uint16_t port = 0;
  explicit ServeProcess(const std::string& name) {
    dir = std::filesystem::temp_directory_path() / ("wl_serve_" + name + "_" + std::to_string(getpid()));
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    const std::string err = (dir / "stderr.txt").string(), config = (dir / "config.json").string();
    pid = fork();
    if (pid == 0) {
      const int fd = open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      dup2(fd, 2);
      const std::string exe = WL_WORLDLOOP_EXE;
      execl(exe.c_str(), exe.c_str(), "serve", "--port", "0", "--config", config.c_str(), "--seed", "3",
            static_cast<char*>(nullptr));
      _exit(127);
    }
    const std::regex open_line(R"(open http://127\.0\.0\.1:(\d+)/)");
    eventually(
        [&] {
          std::smatch m;
          const std::string text = log();
          if (std::regex_search(text, m, open_line)) port = static_cast<uint16_t>(std::stoi(m[1]));
          return port != 0;
        },
        120000ms);
  }
  std::string log() const {
    std::ifstream f(dir / "stderr.txt");
    return std::string(std::istreambuf_iterator<char>(f), {});
  }
  int stop() {
    kill(pid, SIGINT);
    int status = 0;
    waitpid(pid, &status, 0);
    pid = -1;
    return status;
  }
  ~ServeProcess() {
    if (pid > 0) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
    std::filesystem::remove_all(dir);
  }
};

// Connects, takes the hello and one frame, and hangs up.
void one_visit(uint16_t port, bool polite) {
  WsClient c;
  ASSERT_FALSE(c.connect(port));
  EXPECT_EQ(nlohmann::json::parse(c.read())["type"], "hello");
  bool binary = false;
  for (int i = 0; i < 10 && !binary; ++i) c.read(&binary);
  EXPECT_TRUE(binary) << "no frame";
  if (polite) c.ws.close(websocket::close_code::normal);
}

TEST(ServeProcess, HundredVisitsAndAStoppedClientKeepMemoryFlat) {
  ServeProcess serve("visits");
  ASSERT_NE(serve.port, 0) << serve.log();
  for (int i = 0; i < 10; ++i) one_visit(serve.port, i % 2);
  const int64_t before = rss_kib(serve.pid);
  for (int i = 0; i < 100; ++i) one_visit(serve.port, i % 2);
  // A client that stops reading, while another keeps playing.
  WsClient stopped;
  ASSERT_FALSE(stopped.connect(serve.port, "/ws", "", 4096));
  stopped.read();
  const auto until = std::chrono::steady_clock::now() + 4s;
  int visits = 0;
  while (std::chrono::steady_clock::now() < until) {
    one_visit(serve.port, true);
    ++visits;
  }
  const int64_t after = rss_kib(serve.pid);
  std::fprintf(stderr, "serve RSS %lld KiB after 10 visits, %lld KiB after 110 more and a stopped client\n",
               static_cast<long long>(before), static_cast<long long>(after));
  EXPECT_GT(visits, 3);
  EXPECT_LT(after - before, 8 * 1024) << "memory grew by " << (after - before) << " KiB";
  const int status = serve.stop();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status << "\n" << serve.log();
  const std::string log = serve.log();
  EXPECT_NE(log.find("connections"), std::string::npos) << log;
}

TEST(ServeProcess, RefusesWindowFlagsAndBadValuesByName) {
  const std::string exe = WL_WORLDLOOP_EXE;
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"--headless", "--headless is for play"},
      {"--port 70000", "--port must be an integer 0..65535"},
      {"--port -1", "--port must be"},
      {"--max-clients 0", "--max-clients must be"},
      {"--jpeg-quality 0", "--jpeg-quality must be"},
      {"--token 'a b'", "--token must be"},
      {"--bind 999.1.1.1 --port 0", "--bind '999.1.1.1' is not an IP address"},
      {"--policy nope", "--policy must be"},
  };
  for (const auto& [args, want] : cases) {
    const std::string cmd = "timeout 60 " + exe + " serve " + args + " 2>&1";
    FILE* p = popen(cmd.c_str(), "r");
    ASSERT_TRUE(p);
    std::string out;
    char buf[512];
    while (fgets(buf, sizeof buf, p)) out += buf;
    const int status = pclose(p);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) != 0) << args;
    EXPECT_NE(out.find(want), std::string::npos) << args << ": " << out;
  }
}

}  // namespace
