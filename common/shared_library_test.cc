#include "common/shared_library.h"

#include <gtest/gtest.h>

namespace ferry {
namespace {

TEST(SharedLibraryTest, BindsAFunctionThatWorks) {
  auto libz = SharedLibrary::Open("libz.so.1", "the test");
  ASSERT_TRUE(libz.has_value()) << libz.error().ToString();
  unsigned long (*adler)(unsigned long, const unsigned char*, unsigned) = nullptr;
  ASSERT_TRUE(libz->Bind("adler32", &adler).ok());
  ASSERT_NE(adler, nullptr);
  const unsigned char text[] = "Wikipedia";
  EXPECT_EQ(adler(1, text, 9), 0x11E60398u);  // The worked example of Adler-32.
}

TEST(SharedLibraryTest, AMissingLibraryIsNamedWithWhatNeedsIt) {
  auto lib = SharedLibrary::Open("libferry-no-such-library.so.7", "Widgets");
  ASSERT_FALSE(lib.has_value());
  EXPECT_EQ(lib.error().code(), Status::Code::kNotSupported);
  EXPECT_NE(lib.error().message().find("Widgets need libferry-no-such-library.so.7"),
            std::string::npos)
      << lib.error().ToString();
}

TEST(SharedLibraryTest, AMissingFunctionIsNamed) {
  auto libz = SharedLibrary::Open("libz.so.1", "Widgets");
  ASSERT_TRUE(libz.has_value());
  void (*fn)() = nullptr;
  const Status s = libz->Bind("ferry_no_such_function", &fn);
  EXPECT_EQ(s.code(), Status::Code::kNotSupported);
  EXPECT_NE(s.message().find("ferry_no_such_function()"), std::string::npos) << s.ToString();
  EXPECT_NE(s.message().find("libz.so.1"), std::string::npos);
}

}  // namespace
}  // namespace ferry
