package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"sync"
	"time"
)

// cacheMaxEntries caps the credentials cache. 10,000 entries of ~200 bytes
// is about 2 MiB.
const cacheMaxEntries = 10000

// credCache remembers passwords verified with argon2id, so that clients
// that log in every minute do not pay ~100 ms of CPU each time. The key is
// the address plus an HMAC of the password under a random per-process key:
// the plaintext is never kept, and the HMAC cannot be attacked offline
// without the key, which never leaves memory. The value is the PasswordHash
// the password was verified against; a hit counts only if the account still
// has that exact hash, so a changed or deleted password takes effect at
// once, even when another process changed it.
type credCache struct {
	ttl time.Duration
	key [32]byte

	mu sync.Mutex
	m  *boundedMap[cacheKey, string]
}

type cacheKey struct {
	addr string
	mac  [sha256.Size]byte
}

func newCredCache(ttl time.Duration, key [32]byte) *credCache {
	return &credCache{ttl: ttl, key: key, m: newBoundedMap[cacheKey, string](cacheMaxEntries)}
}

func (c *credCache) keyFor(addr, password string) cacheKey {
	h := hmac.New(sha256.New, c.key[:])
	// The address is MACed too, so equal passwords of two accounts give
	// unrelated keys.
	h.Write([]byte(addr))
	h.Write([]byte{0})
	h.Write([]byte(password))
	k := cacheKey{addr: addr}
	h.Sum(k.mac[:0])
	return k
}

// hit reports whether password was verified for addr against exactly
// currentHash within the TTL. A stale entry is dropped.
func (c *credCache) hit(addr, password, currentHash string, now time.Time) bool {
	k := c.keyFor(addr, password)
	c.mu.Lock()
	defer c.mu.Unlock()
	verified, ok := c.m.get(k, now)
	if !ok {
		return false
	}
	if verified != currentHash {
		c.m.delete(k)
		return false
	}
	return true
}

// add records that password verified against hash for addr.
func (c *credCache) add(addr, password, hash string, now time.Time) {
	k := c.keyFor(addr, password)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m.put(k, hash, now.Add(c.ttl), now)
}
