// A check shared by the tests of transports whose servers lose answers (the request done, the
// answer never arriving, the client sending it again): S3 through the lossy front end, NFS
// through the lossy proxy.
#pragma once

#include <string>

#include <gtest/gtest.h>

#include "tests/testutil/testutil.h"
#include "transports/transport.h"

namespace ferry::testing {

// Publishes "config" create-if-absent through `t`: it must land although its first answer is
// lost, and create-if-absent must still refuse other bytes, and even the same bytes, after it.
inline void ExpectCreateIfAbsentSurvivesLostAnswers(Transport& t) {
  const std::string config = RandomBytes(300, 1);
  const Status put = t.Put("config", AsBytes(config), /*exclusive=*/true);
  ASSERT_TRUE(put.ok()) << put.ToString();
  EXPECT_EQ(t.Get("config").value(), config);
  EXPECT_EQ(t.Put("config", AsBytes(RandomBytes(300, 2)), true).code(),
            Status::Code::kAlreadyExists);
  EXPECT_EQ(t.Put("config", AsBytes(config), true).code(), Status::Code::kAlreadyExists);
  EXPECT_EQ(t.Get("config").value(), config);
}

}  // namespace ferry::testing
