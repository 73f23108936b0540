// PBS's escape rule against the vectors produced by PBS itself (spec section 10).
#include <gtest/gtest.h>

#include "escape.hpp"

namespace pbs {
namespace {

struct Vector {
  std::string rpath;
  std::string escaped;
};

const Vector kVectors[] = {
    {"vm/100", "vm-100"},
    {"vm/100/2022-05-02T08:11:33Z", "vm-100-2022\\x2d05\\x2d02T08\\x3a11\\x3a33Z"},
    {"vm/100/2022-05-02T08:11:33Z/.index.json.lck",
     "vm-100-2022\\x2d05\\x2d02T08\\x3a11\\x3a33Z-.index.json.lck"},
    {"host/my.host", "host-my.host"},
    {"host/-foo", "host-\\x2dfoo"},
    {"host/a b", "host-a\\x20b"},
    {"host/\xc3\xa4\xc3\xb6", "host-\\xc3\\xa4\\xc3\\xb6"},
    {".hidden", "\\x2ehidden"},
    {"/.foo", "\\x2efoo"},
    {"a/.b", "a-.b"},
    {"", "-"},
    {"/", "-"},
    {"///vm/100", "vm-100"},
    {"vm/100/", "vm-100-"},
    {"a//b", "a--b"},
    {"a/./b", "a-.-b"},
    {"a/../b", "a-..-b"},
    {"A:Z", "A\\x3aZ"},
    {"a\\b", "a\\x5cb"},
    {"x~y", "x\\x7ey"},
    {"host/foo_bar.baz-1", "host-foo_bar.baz\\x2d1"},
    {"\x01\x7f\xff", "\\x01\\x7f\\xff"},
};

TEST(Escape, MatchesEveryPbsVector) {
  for (const auto& v : kVectors)
    EXPECT_EQ(escape_lock_name(v.rpath), v.escaped) << v.rpath;
}

TEST(Escape, UnescapeInvertsNamesWithoutLeadingSlash) {
  for (const auto& v : kVectors) {
    if (v.rpath.empty() || v.rpath.front() == '/') continue;
    auto back = unescape_lock_name(v.escaped);
    ASSERT_TRUE(back.has_value()) << v.escaped;
    EXPECT_EQ(*back, v.rpath);
  }
}

TEST(Escape, UnescapeRejectsWhatEscapeNeverProduces) {
  for (std::string bad :
       {"a\\x2", "a\\y20", "a\\x2G", "a b", "a:b", ".hidden", "a\\x41", "tail\\", "\\x2D"}) {
    EXPECT_FALSE(unescape_lock_name(bad).has_value()) << bad;
  }
}

TEST(Escape, EscapesEveryByteOutsideTheKeptSet) {
  for (int byte = 1; byte < 256; ++byte) {
    std::string rpath = std::string("x") + static_cast<char>(byte);
    std::string escaped = escape_lock_name(rpath);
    char c = static_cast<char>(byte);
    bool kept = std::isalnum(byte) || c == '_' || c == '.';
    if (c == '/') {
      EXPECT_EQ(escaped, "x-");
    } else if (kept) {
      EXPECT_EQ(escaped, rpath);
    } else {
      EXPECT_EQ(escaped.size(), 5u) << byte;
    }
  }
}

}  // namespace
}  // namespace pbs
