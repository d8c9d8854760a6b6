// runtime/core/output_file.h: outputs are renamed into place whole, and a
// symlink, device, FIFO or directory at the output's path is never replaced.
// The writers that use it (play's default config, model.json, the input log,
// the prompt cache) are checked through their own entry points.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <functional>
#include <fstream>
#include <iterator>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "app/loop/input_log.h"
#include "app/loop/play_config.h"
#include "runtime/core/error.h"
#include "runtime/core/output_file.h"
#include "runtime/model/model_manifest.h"
#include "tests/support/golden.h"

namespace wl {
namespace {
namespace fs = std::filesystem;

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {  // wl::Error, or the recorders' runtime_error
    return e.what();
  }
  return "";
}

// Nothing but `names` in `dir`: no temporary file was left behind.
void expect_only(const std::string& dir, std::set<std::string> names) {
  std::set<std::string> got;
  for (const auto& e : fs::directory_iterator(dir)) got.insert(e.path().filename().string());
  EXPECT_EQ(got, names);
}

fs::path fresh_dir(const std::string& name) {
  const fs::path d = fs::path(test::temp_dir()) / name;
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

TEST(OutputFile, ReplacesARegularFileWhole) {
  const fs::path d = fresh_dir("output-regular");
  const std::string out = (d / "a.json").string();
  std::ofstream(out) << "old content";
  write_file_replacing(out, "new");
  EXPECT_EQ(read_all(out), "new");
  expect_only(d.string(), {"a.json"});
  write_file_replacing((d / "b.json").string(), "");  // a new, empty file
  EXPECT_EQ(fs::file_size(d / "b.json"), 0u);
}

TEST(OutputFile, WithoutCommitTheOutputIsUntouched) {
  const fs::path d = fresh_dir("output-abandoned");
  const std::string out = (d / "a.bin").string();
  std::ofstream(out) << "keep";
  {
    ReplacingFile f(out);
    f.write("half", 4);
  }  // an error between the writes: no commit
  EXPECT_EQ(read_all(out), "keep");
  expect_only(d.string(), {"a.bin"});
}

TEST(OutputFile, SymlinksDevicesFifosAndFoldersAreRefusedByName) {
  const fs::path d = fresh_dir("output-special");
  const std::string target = (d / "precious").string();
  std::ofstream(target) << "keep me";
  fs::create_symlink(target, d / "link");
  fs::create_symlink(d / "nowhere", d / "dangling");
  ASSERT_EQ(::mkfifo((d / "fifo").c_str(), 0600), 0);
  fs::create_directory(d / "folder");
  for (const auto& [name, says] : std::vector<std::pair<std::string, std::string>>{
           {"link", "exists and is a symlink"},
           {"dangling", "exists and is a symlink"},
           {"fifo", "exists and is a FIFO"},
           {"folder", "exists and is a directory"}}) {
    const std::string path = (d / name).string();
    const std::string e = error_of([&] { write_file_replacing(path, "x"); });
    EXPECT_NE(e.find(path + ": " + says + "; not replacing it"), std::string::npos) << e;
  }
  EXPECT_NE(error_of([&] { write_file_replacing("/dev/null", "x"); }).find("/dev/null: exists and is a device"),
            std::string::npos);
  EXPECT_EQ(read_all(target), "keep me");
  EXPECT_FALSE(fs::exists(d / "nowhere"));  // the dangling link was not followed
  EXPECT_NE(error_of([&] { write_file_replacing((d / "no/such/dir/x").string(), "x"); })
                .find("cannot create a temporary file beside it: No such file or directory"),
            std::string::npos);
}

// play's default config used to be written through std::ofstream: a dangling
// symlink at ~/.config/worldloop/play.json created its target.
TEST(OutputFile, DefaultPlayConfigIsNotWrittenThroughASymlink) {
  const fs::path d = fresh_dir("output-config");
  fs::create_symlink(d / "elsewhere.json", d / "play.json");
  const app::PlayConfig c = app::PlayConfig::load_or_create((d / "play.json").string());
  EXPECT_EQ(c.to_json(), app::PlayConfig::defaults().to_json());  // best effort: still plays with the defaults
  EXPECT_FALSE(fs::exists(d / "elsewhere.json"));
  fs::remove(d / "play.json");
  app::PlayConfig::load_or_create((d / "play.json").string());
  EXPECT_EQ(read_all((d / "play.json").string()), app::PlayConfig::defaults().to_json());
  expect_only(d.string(), {"play.json"});
}

TEST(OutputFile, ModelJsonAndTheInputLogAreNotWrittenThroughASymlink) {
  const fs::path d = fresh_dir("output-manifest");
  std::ofstream(d / "precious") << "keep me";
  fs::create_symlink(d / "precious", d / "model.json");
  ModelManifest m;
  m.files["dit"] = "dit.pt";
  const std::string e = error_of([&] { m.write((d / "model.json").string()); });
  EXPECT_NE(e.find("model.json: exists and is a symlink"), std::string::npos) << e;
  fs::create_directory(d / "inputs");
  fs::create_symlink(d / "precious", d / "inputs" / "inputs.json");
  const std::string e2 = error_of([&] { app::InputLog().write((d / "inputs").string()); });
  EXPECT_NE(e2.find("inputs.json"), std::string::npos) << e2;
  EXPECT_EQ(read_all((d / "precious").string()), "keep me");
}

}  // namespace
}  // namespace wl
