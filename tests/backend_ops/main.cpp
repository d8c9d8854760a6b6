// worldloop_backend_ops: the op table (cases.cpp) on every available backend.
//
//   worldloop_backend_ops [test]   one line per case and backend: op, shapes,
//                                  backend, error vs tolerance, OK/FAIL; exit 1
//                                  on any failure
//   worldloop_backend_ops perf     each case per backend timed over repeats:
//                                  JSON lines with the median and spread; asserts nothing
//   -o OP[,OP..]   only these ops        -b BACKEND   CPU, CUDA, CPU/BF16, ...
//   -p TEXT        only cases whose description contains TEXT
//   --list         the ops, their row counts and the backends, then exit
//   --reps N       perf: exactly N timed runs per case (default: 5..50, ~0.1 s)
//   -q             test: print failures and the summary only
//
// Backends: the CPU always, under F32 and BF16 for the ops that take a
// MatmulPrecision (BF16 is emulated where the processor lacks bf16 dot
// products); CUDA when ops::backend_available(Backend::CUDA). Exit 77 when
// -b selects only backends that are not available (ctest's skip).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "runtime/core/error.h"
#include "tests/backend_ops/harness.h"
#include "tests/support/reference_ops.h"

namespace wl::backend_ops {
namespace {

struct Ctx {
  Backend backend;
  MatmulPrecision precision;
  std::string name;  // "CPU", "CUDA" (ops without a precision) or "CPU/BF16"
};

const char* backend_name(Backend b) { return b == Backend::CPU ? "CPU" : "CUDA"; }

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  for (std::string item; std::getline(in, item, ',');)
    if (!item.empty()) out.push_back(item);
  return out;
}

struct Options {
  std::string mode = "test";
  std::set<std::string> ops;
  std::vector<std::string> backends;  // lower case
  std::string contains;
  bool list = false, quiet = false;
  int reps = 0;
};

// The contexts a case runs in, among the available backends and the -b filter.
std::vector<Ctx> contexts(const Case& c, const std::vector<Backend>& available, const Options& o) {
  std::vector<Ctx> out;
  for (Backend b : available)
    for (MatmulPrecision p : {MatmulPrecision::F32, MatmulPrecision::BF16}) {
      if (!c.precisions && p != MatmulPrecision::F32) continue;
      Ctx ctx{b, p, std::string(backend_name(b)) + (c.precisions ? std::string("/") + ops::precision_name(p) : "")};
      bool wanted = o.backends.empty();
      for (const std::string& f : o.backends)
        wanted = wanted || f == lower(backend_name(b)) || f == lower(ctx.name) ||
                 (!c.precisions && f == lower(std::string(backend_name(b)) + "/f32"));
      if (wanted) out.push_back(ctx);
    }
  return out;
}

// A row's seed: a hash of its op and description, so neither a filter nor a
// new row changes another row's inputs.
uint32_t seed_of(const std::string& key, size_t occurrence) {
  uint32_t h = 2166136261u;  // FNV-1a
  for (char ch : key) h = (h ^ static_cast<uint8_t>(ch)) * 16777619u;
  return h ^ static_cast<uint32_t>(occurrence * 0x9e3779b9u);
}

struct Row {
  const Case* c;
  std::string what;  // c->describe()
  uint32_t seed;
};

std::vector<Row> select(const std::vector<Case>& cases, const Options& o) {
  std::vector<Row> rows;
  std::map<std::string, size_t> seen;
  for (const Case& c : cases) {
    std::string what = c.describe();
    const std::string key = c.op + "|" + what;
    const size_t n = seen[key]++;  // identical rows get their own inputs
    if (!o.ops.empty() && !o.ops.count(c.op)) continue;
    if (!o.contains.empty() && what.find(o.contains) == std::string::npos) continue;
    rows.push_back({&c, std::move(what), seed_of(key, n)});
  }
  return rows;
}

double error_of(const Case& c, const Outputs& outs, const References& want) {
  if (outs.size() != want.size()) return INFINITY;
  double err = 0;
  for (size_t i = 0; i < outs.size(); ++i) {
    const Tensor host = ops::to_backend(outs[i], Backend::CPU);
    const double e = c.metric == Metric::Relative ? ref::relative_error(host, want[i], c.floor)
                                                  : ref::normalised_error(host, want[i]);
    if (!(e <= err)) err = e;  // NaN sticks
  }
  return err;
}

// The ops ops.h declares (free functions returning void, Tensor or a prepared
// weight) that no row names, for a warning: every op belongs in the table.
std::vector<std::string> ops_without_rows(const std::vector<Case>& cases) {
#ifdef WL_OPS_HEADER
  std::ifstream in(WL_OPS_HEADER);
  if (!in) return {};
  std::set<std::string> have;
  for (const Case& c : cases) have.insert(c.op);
  // Used by every row: inputs travel with to_backend, outputs come from
  // empty, each run ends in synchronize.
  const std::set<std::string> plumbing = {"empty", "zeros", "to_backend", "synchronize"};
  const std::regex decl(R"(^\s*(?:void|Tensor|LinearWeight|ConvWeight)\s+(\w+)\s*\()");
  std::vector<std::string> missing;
  std::smatch m;
  for (std::string line; std::getline(in, line);)
    if (std::regex_search(line, m, decl) && !have.count(m[1]) && !plumbing.count(m[1])) missing.push_back(m[1]);
  return missing;
#else
  (void)cases;
  return {};
#endif
}

std::string json_str(const std::string& s) {
  std::string out = "\"";
  for (char ch : s) {
    if (ch == '"' || ch == '\\') out += '\\';
    out += ch;
  }
  return out + "\"";
}

int run_tests(const std::vector<Row>& rows, const std::vector<Case>& cases, const std::vector<Backend>& available,
              const Options& o) {
  int passed = 0, failed = 0;
  std::map<std::string, int> failures_by_op;
  const auto t0 = std::chrono::steady_clock::now();
  for (const Row& r : rows) {
    const Case& c = *r.c;
    const std::vector<Tensor> host = c.make_inputs(r.seed);
    const std::string& what = r.what;
    std::map<MatmulPrecision, References> want;  // per precision, made once
    for (const Ctx& ctx : contexts(c, available, o)) {
      bool ok = false;
      std::string verdict;
      char buf[160];
      Args a(host, ctx.backend, ctx.precision);
      if (c.refuses) {
        try {
          c.run(a);
          ops::synchronize(ctx.backend);
          verdict = "accepted, expected a refusal";
        } catch (const Error& e) {
          const std::string msg = e.what();
          ok = msg.rfind(c.op + ": ", 0) == 0;  // ops.cpp's "op: what is wrong"
          verdict = ok ? "refused: " + msg : "refused without naming " + c.op + ": " + msg;
        } catch (const std::exception& e) {
          verdict = std::string("threw a non-wl::Error: ") + e.what();
        }
      } else {
        const double tol = c.tol.at(ctx.backend, ctx.precision);
        try {
          if (!want.count(ctx.precision)) want[ctx.precision] = c.reference(a);
          const Outputs outs = c.run(a);
          ops::synchronize(ctx.backend);
          const double err = error_of(c, outs, want[ctx.precision]);
          ok = err <= tol;
          std::snprintf(buf, sizeof buf, "%s %.2e %s %.1e", c.metric == Metric::Relative ? "rel" : "err", err,
                        ok ? "<=" : "> ", tol);
          verdict = buf;
        } catch (const std::exception& e) {
          verdict = std::string("threw: ") + e.what();
        }
      }
      (ok ? passed : failed)++;
      if (!ok) failures_by_op[c.op]++;
      if (!o.quiet || !ok)
        std::printf("  %-20s %-58s %-9s %s  %s\n", c.op.c_str(), what.c_str(), ctx.name.c_str(), verdict.c_str(),
                    ok ? "OK" : "FAIL");
    }
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("%d/%d passed in %.1f s on", passed, passed + failed, secs);
  for (Backend b : available) std::printf(" %s", backend_name(b));
  std::printf(" (CPU: %s)\n", ops::describe_cpu(MatmulPrecision::BF16).c_str());
  for (const auto& [op, n] : failures_by_op) std::printf("FAILED: %s (%d)\n", op.c_str(), n);
  if (o.ops.empty())
    for (const std::string& op : ops_without_rows(cases))
      std::printf("warning: runtime/core/ops.h declares %s, which has no row in tests/backend_ops/cases.cpp\n",
                  op.c_str());
  return failed ? 1 : 0;
}

int run_perf(const std::vector<Row>& rows, const std::vector<Backend>& available, const Options& o) {
  std::printf("{\"backend_ops\": \"perf\", \"cpu\": %s}\n", json_str(ops::describe_cpu(MatmulPrecision::BF16)).c_str());
  for (const Row& r : rows) {
    const Case& c = *r.c;
    if (c.refuses) continue;
    const std::vector<Tensor> host = c.make_inputs(r.seed);
    const std::string& what = r.what;
    for (const Ctx& ctx : contexts(c, available, o)) {
      Args a(host, ctx.backend, ctx.precision);
      std::vector<double> us;
      try {
        c.run(a);  // warm-up: allocates the outputs, prepares weights
        ops::synchronize(ctx.backend);
        const auto start = std::chrono::steady_clock::now();
        for (int i = 0;; ++i) {
          if (o.reps > 0 ? i >= o.reps
                         : i >= 50 || (i >= 5 && std::chrono::steady_clock::now() - start > std::chrono::milliseconds(100)))
            break;
          const auto t = std::chrono::steady_clock::now();
          c.run(a);
          ops::synchronize(ctx.backend);
          us.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t).count());
        }
      } catch (const std::exception& e) {
        std::printf("{\"op\": %s, \"case\": %s, \"backend\": %s, \"error\": %s}\n", json_str(c.op).c_str(),
                    json_str(what).c_str(), json_str(ctx.name).c_str(), json_str(e.what()).c_str());
        continue;
      }
      std::sort(us.begin(), us.end());
      const double median = us[us.size() / 2];
      std::vector<double> dev;
      for (double v : us) dev.push_back(std::abs(v - median));
      std::sort(dev.begin(), dev.end());
      std::printf(
          "{\"op\": %s, \"case\": %s, \"backend\": %s, \"precision\": %s, \"reps\": %zu, \"median_us\": %.2f, "
          "\"mad_us\": %.2f, \"min_us\": %.2f, \"max_us\": %.2f}\n",
          json_str(c.op).c_str(), json_str(what).c_str(), json_str(backend_name(ctx.backend)).c_str(),
          json_str(ops::precision_name(ctx.precision)).c_str(), us.size(), median, dev[dev.size() / 2], us.front(),
          us.back());
      std::fflush(stdout);
    }
  }
  return 0;
}

int list(const std::vector<Row>& rows, const std::vector<Backend>& available, const std::vector<Case>& cases) {
  std::map<std::string, std::pair<int, int>> counts;  // op -> rows, refusals
  std::vector<std::string> order;
  for (const Row& r : rows) {
    if (!counts.count(r.c->op)) order.push_back(r.c->op);
    (r.c->refuses ? counts[r.c->op].second : counts[r.c->op].first)++;
  }
  for (const std::string& op : order)
    std::printf("%-20s %4d cases %3d refusals%s\n", op.c_str(), counts[op].first, counts[op].second,
                std::any_of(rows.begin(), rows.end(), [&](const Row& r) { return r.c->op == op && r.c->precisions; })
                    ? "  (F32 and BF16)"
                    : "");
  std::printf("backends:");
  for (Backend b : available) std::printf(" %s", backend_name(b));
  if (!ops::backend_available(Backend::CUDA))
    std::printf(" (CUDA: %s)", ops::backend_unavailable_reason(Backend::CUDA).c_str());
  std::printf("\n");
  for (const std::string& op : ops_without_rows(cases))
    std::printf("warning: runtime/core/ops.h declares %s, which has no row\n", op.c_str());
  return 0;
}

int usage(const char* argv0, int rc) {
  std::fprintf(rc ? stderr : stdout,
               "usage: %s [test|perf] [-o OP[,OP..]] [-b BACKEND[,..]] [-p TEXT] [--reps N] [-q] [--list]\n"
               "  BACKEND: CPU, CUDA, or with a precision: CPU/F32, CPU/BF16, CUDA/BF16\n",
               argv0);
  return rc;
}

int main_impl(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw Error(arg + " needs a value");
      return argv[++i];
    };
    if (arg == "test" || arg == "perf") o.mode = arg;
    else if (arg == "-o") for (const std::string& op : split(value())) o.ops.insert(op);
    else if (arg == "-b") for (const std::string& b : split(value())) o.backends.push_back(lower(b));
    else if (arg == "-p") o.contains = value();
    else if (arg == "--reps") o.reps = std::max(1, std::atoi(value().c_str()));
    else if (arg == "--list") o.list = true;
    else if (arg == "-q") o.quiet = true;
    else if (arg == "-h" || arg == "--help") return usage(argv[0], 0);
    else return usage(argv[0], 2);
  }
  const std::vector<Case> cases = make_cases();
  std::set<std::string> known;
  for (const Case& c : cases) known.insert(c.op);
  for (const std::string& op : o.ops)
    if (!known.count(op)) throw Error("-o " + op + ": no such op in the table (see --list)");

  std::vector<Backend> available = {Backend::CPU};
  if (ops::backend_available(Backend::CUDA)) available.push_back(Backend::CUDA);
  else if (o.mode == "test" && !o.list)
    std::printf("skipping CUDA: %s\n", ops::backend_unavailable_reason(Backend::CUDA).c_str());
  if (!o.backends.empty()) {
    bool any = false;
    for (const std::string& f : o.backends) {
      const std::string b = f.substr(0, f.find('/'));
      if (b != "cpu" && b != "cuda") throw Error("-b " + f + ": expected CPU or CUDA, optionally /F32 or /BF16");
      for (Backend a : available) any = any || b == lower(backend_name(a));
    }
    if (!any) {
      std::printf("no selected backend is available\n");
      return 77;
    }
  }
  const std::vector<Row> rows = select(cases, o);
  if (o.list) return list(rows, available, cases);
  return o.mode == "perf" ? run_perf(rows, available, o) : run_tests(rows, cases, available, o);
}

}  // namespace
}  // namespace wl::backend_ops

int main(int argc, char** argv) {
  try {
    return wl::backend_ops::main_impl(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "worldloop_backend_ops: %s\n", e.what());
    return 2;
  }
}
