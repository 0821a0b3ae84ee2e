// Test fixture for checking ferry's QCOW2 code against QEMU's tools (qemu-img, qemu-io): a temp
// directory and helpers that run the tools and fail the test when they fail.
#pragma once

#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "tests/testutil/testutil.h"

namespace ferry::qcow2 {

class QemuToolsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!::ferry::testing::HasProgram("qemu-img") || !::ferry::testing::HasProgram("qemu-io")) {
      GTEST_SKIP() << "qemu-img and qemu-io are not installed (scripts/install-deps.sh installs "
                      "qemu-utils)";
    }
  }

  std::string Path(const std::string& name) const { return (dir_.path() / name).string(); }

  // Runs each qemu-io command (such as "write -P 0x5a 0 64k") on `image`.
  static void QemuIo(const std::string& image, const std::vector<std::string>& commands) {
    std::string line = "qemu-io -f qcow2";
    for (const auto& c : commands) line += " -c '" + c + "'";
    ::ferry::testing::RunOrFail(line + " " + image + " >/dev/null");
  }

  // The guest content of `image`, as qemu-img converts it to raw.
  std::string QemuRaw(const std::string& image) const {
    const std::string raw = Path("qemu-reference.raw");
    ::ferry::testing::RunOrFail(fmt::format("qemu-img convert -O raw {} {}", image, raw));
    return ::ferry::testing::ReadFileOrDie(raw);
  }

  ::ferry::testing::TempDir dir_;
};

}  // namespace ferry::qcow2
