#pragma once
// A test fixture with a fresh folder of its own (/tmp/fwbench-<suite>-<test>, removed after the
// test), and the message of the UsageError a call throws.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "core/error.h"

namespace fwbench::testing {

class TempDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = std::filesystem::temp_directory_path() /
           (std::string("fwbench-") + info->test_suite_name() + "-" + info->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::filesystem::path dir_;
};

// What the UsageError thrown by `f` says, or "(no error)".
template <typename F>
std::string UsageErrorOf(F&& f) {
  try {
    f();
  } catch (const UsageError& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace fwbench::testing
