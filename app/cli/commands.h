// The worldloop subcommands, one file each (app/cmd_<name>.cpp). Each takes
// the arguments after its name and returns the process exit code; bad input
// is reported as one line on stderr by main().
#pragma once
#include <string>

namespace wl::app {

int cmd_dit_replay(int argc, char** argv);
int cmd_play(int argc, char** argv);
// `worldloop serve`: play in a browser (app/serve/).
int cmd_serve(int argc, char** argv);
// `worldloop --version`: the build, oneDNN's ISA, the kernels and the default precision.
std::string version_text();
int cmd_generate(int argc, char** argv);
int cmd_bench(int argc, char** argv);
int cmd_text_encode(int argc, char** argv);
int cmd_convert(int argc, char** argv);
int cmd_inspect(int argc, char** argv);
int cmd_encode(int argc, char** argv);
int cmd_decode(int argc, char** argv);

}  // namespace wl::app
