// The thread governor's decision (runtime/cpu_threads.h): cores the other
// processes hold are given up, with hysteresis so a load near a threshold
// does not flip the count every interval.
#include <gtest/gtest.h>

#include "runtime/core/cpu_threads.h"

namespace wl {
namespace {

TEST(CpuThreads, IdleMachineUsesEveryThread) {
  EXPECT_EQ(threads_for_load(2, 0.0, 2, 2), 2);
  EXPECT_EQ(threads_for_load(2, 0.05, 1, 2), 2);  // load gone: back to both cores
  EXPECT_EQ(threads_for_load(8, 0.2, 3, 8), 8);
}

TEST(CpuThreads, ABusyCoreIsGivenUp) {
  EXPECT_EQ(threads_for_load(2, 1.0, 2, 2), 1);
  EXPECT_EQ(threads_for_load(2, 0.7, 2, 2), 1);
  EXPECT_EQ(threads_for_load(2, 2.0, 2, 2), 1);  // never below one
  EXPECT_EQ(threads_for_load(8, 3.0, 8, 8), 5);
}

TEST(CpuThreads, HysteresisKeepsTheCountNearAThreshold) {
  // Between 0.35 and 0.6 of a core busy the count stays where it is.
  EXPECT_EQ(threads_for_load(2, 0.5, 2, 2), 2);
  EXPECT_EQ(threads_for_load(2, 0.5, 1, 2), 1);
  EXPECT_EQ(threads_for_load(2, 0.3, 1, 2), 2);
  EXPECT_EQ(threads_for_load(2, 0.65, 2, 2), 1);
}

TEST(CpuThreads, NoEstimateOrACapKeepsWithinBounds) {
  EXPECT_EQ(threads_for_load(2, -1.0, 2, 2), 2);  // before the first sample
  EXPECT_EQ(threads_for_load(16, 0.0, 2, 2), 2);  // never above the cap
  EXPECT_EQ(threads_for_load(2, 0.0, 5, 2), 2);
}

TEST(CpuThreads, GovernorSamplesThisMachine) {
  CpuThreadGovernor g(2);
  EXPECT_EQ(g.update(), 2);  // the first call only takes a sample
  EXPECT_LT(g.others_cores(), 0.0);
  EXPECT_GE(g.threads(), 1);
  EXPECT_LE(g.threads(), 2);
}

}  // namespace
}  // namespace wl
