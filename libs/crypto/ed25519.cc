#include "libs/crypto/ed25519.h"

#include <openssl/evp.h>

#include <memory>

namespace protectogram::crypto {
namespace {

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;

const unsigned char* Bytes(std::string_view s) { return reinterpret_cast<const unsigned char*>(s.data()); }

absl::StatusOr<PkeyPtr> PrivateKey(std::string_view seed) {
  if (seed.size() != kEd25519KeySize) return absl::InvalidArgumentError("ed25519: seed must be 32 bytes");
  PkeyPtr key(EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, Bytes(seed), seed.size()));
  if (!key) return absl::InternalError("ed25519: cannot load private key");
  return key;
}

}  // namespace

absl::Status Ed25519Verify(std::string_view public_key, std::string_view message,
                           std::string_view signature) {
  if (public_key.size() != kEd25519KeySize) {
    return absl::InvalidArgumentError("ed25519: public key must be 32 bytes");
  }
  if (signature.size() != kEd25519SignatureSize) {
    return absl::InvalidArgumentError("ed25519: signature must be 64 bytes");
  }
  PkeyPtr key(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, Bytes(public_key), public_key.size()));
  if (!key) return absl::InvalidArgumentError("ed25519: invalid public key");
  MdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx) return absl::InternalError("ed25519: out of memory");
  // Ed25519 is a one-shot scheme: no digest is named, and the whole message goes to EVP_DigestVerify.
  if (EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, key.get()) != 1) {
    return absl::InvalidArgumentError("ed25519: invalid public key");
  }
  if (EVP_DigestVerify(ctx.get(), Bytes(signature), signature.size(), Bytes(message), message.size()) != 1) {
    return absl::PermissionDeniedError("bad signature");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> Ed25519Sign(std::string_view seed, std::string_view message) {
  absl::StatusOr<PkeyPtr> key = PrivateKey(seed);
  if (!key.ok()) return key.status();
  MdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, key->get()) != 1) {
    return absl::InternalError("ed25519: cannot start signing");
  }
  std::string signature(kEd25519SignatureSize, '\0');
  size_t len = signature.size();
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(signature.data()), &len, Bytes(message),
                     message.size()) != 1 ||
      len != kEd25519SignatureSize) {
    return absl::InternalError("ed25519: signing failed");
  }
  return signature;
}

absl::StatusOr<std::string> Ed25519PublicKeyFromSeed(std::string_view seed) {
  absl::StatusOr<PkeyPtr> key = PrivateKey(seed);
  if (!key.ok()) return key.status();
  std::string public_key(kEd25519KeySize, '\0');
  size_t len = public_key.size();
  if (EVP_PKEY_get_raw_public_key(key->get(), reinterpret_cast<unsigned char*>(public_key.data()), &len) !=
          1 ||
      len != kEd25519KeySize) {
    return absl::InternalError("ed25519: cannot derive public key");
  }
  return public_key;
}

}  // namespace protectogram::crypto
