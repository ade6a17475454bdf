// Web access control decisions.
#include "mgmt/access_list.h"

#include <gtest/gtest.h>

namespace tollgate::mgmt {
namespace {

TEST(AccessListTest, AllowsOnlyListedPrefixes) {
  AccessList a({*net::Cidr::parse("127.0.0.1/32"), *net::Cidr::parse("2001:db8::/32")});
  EXPECT_TRUE(a.allows(*net::IpAddress::parse("127.0.0.1")));
  EXPECT_FALSE(a.allows(*net::IpAddress::parse("127.0.0.2")));
  EXPECT_TRUE(a.allows(*net::IpAddress::parse("2001:db8:1::5")));
  EXPECT_FALSE(a.allows(*net::IpAddress::parse("::1")));
}

TEST(AccessListTest, EmptyAllowsNobody) {
  AccessList a({});
  EXPECT_FALSE(a.allows(*net::IpAddress::parse("127.0.0.1")));
}

}  // namespace
}  // namespace tollgate::mgmt
