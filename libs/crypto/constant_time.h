// Constant-time comparison for secrets, MACs and signatures.
#pragma once

#include <string_view>

namespace protectogram::crypto {

// True when `a` and `b` hold the same bytes. The time taken depends only on the lengths, never on where the
// first difference is (OpenSSL CRYPTO_memcmp), so comparing a presented MAC or secret leaks nothing but its
// length. Strings of different lengths compare unequal at once.
bool ConstantTimeEquals(std::string_view a, std::string_view b);

}  // namespace protectogram::crypto
