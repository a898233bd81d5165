package auth

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"
)

// The fuzz targets feed arbitrary client messages to the SASL exchanges.
// Besides not panicking, none may ever succeed unless the message carries
// the right password or proof, which each target checks independently.

const fuzzPassword = "s3cret"

func fuzzFixture(f *testing.F) *fixture {
	fx := newFixture(f, Options{Legacy: true, Separators: "+%"})
	fx.addAccount(f, "alice@example.org", fuzzPassword, true)
	return fx
}

func FuzzPLAIN(f *testing.F) {
	fx := fuzzFixture(f)
	for _, seed := range []string{"\x00alice\x00" + fuzzPassword, "alice\x00alice\x00" + fuzzPassword, "\x00alice\x00wrong", "", "\x00\x00", "a\x00b"} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		sess, _ := fx.s.NewSASL(t.Context(), "PLAIN", "h")
		_, done, err := sess.Next(msg)
		if done != (err == nil) {
			t.Fatalf("done %v with err %v", done, err)
		}
		if done {
			parts := bytes.Split(msg, []byte{0})
			if len(parts) != 3 || string(parts[2]) != fuzzPassword || sess.Account().Address != "alice@example.org" {
				t.Fatalf("PLAIN %q succeeded as %q", msg, sess.Account().Address)
			}
		}
	})
}

func FuzzLOGIN(f *testing.F) {
	fx := fuzzFixture(f)
	f.Add([]byte("alice"), []byte(fuzzPassword))
	f.Add([]byte("ALICE+example.org"), []byte("wrong"))
	f.Add([]byte(""), []byte(""))
	f.Fuzz(func(t *testing.T, user, pass []byte) {
		sess, _ := fx.s.NewSASL(t.Context(), "LOGIN", "h")
		if _, _, err := sess.Next(nil); err != nil {
			t.Fatal(err)
		}
		if _, _, err := sess.Next(user); err != nil {
			return
		}
		_, done, err := sess.Next(pass)
		if done && (err != nil || string(pass) != fuzzPassword || sess.Account().Address != "alice@example.org") {
			t.Fatalf("LOGIN %q/%q succeeded as %q", user, pass, sess.Account().Address)
		}
	})
}

func FuzzSCRAMClientFirst(f *testing.F) {
	fx, _ := rfcFixture(f)
	for _, seed := range []string{rfcClientFirst, "y,,n=user,r=x", "n,a=user,n=user,r=x", "p=x,,n=user,r=x", "n,,m=x,n=user,r=x", "n,,n=a=2C,r=x,e=1", ""} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, first []byte) {
		sess, _ := fx.s.NewSASL(t.Context(), "SCRAM-SHA-256", "h")
		serverFirst, done, err := sess.Next(first)
		if err != nil || done {
			return
		}
		if !strings.HasPrefix(string(serverFirst), "r=") || !strings.Contains(string(serverFirst), rfcServerNonce+",s=") {
			t.Fatalf("client-first %q: server-first %q", first, serverFirst)
		}
		// Whatever the client-first, a made-up proof must fail.
		nonce, _, _ := strings.Cut(strings.TrimPrefix(string(serverFirst), "r="), ",")
		final := "c=biws,r=" + nonce + ",p=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
		if _, _, err := sess.Next([]byte(final)); err == nil {
			t.Fatalf("client-first %q: zero proof accepted", first)
		}
	})
}

func FuzzSCRAMClientFinal(f *testing.F) {
	fx, _ := rfcFixture(f)
	nonce := "rOprNGfwEbeRWgbNEkqO" + rfcServerNonce
	for _, seed := range []string{rfcClientFinal, "c=biws,r=" + nonce + ",p=AAAA", "c=biws,r=" + nonce, ",p=", ""} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, final []byte) {
		sess, _ := fx.s.NewSASL(t.Context(), "SCRAM-SHA-256", "h")
		if _, _, err := sess.Next([]byte(rfcClientFirst)); err != nil {
			t.Fatal(err)
		}
		serverFinal, done, err := sess.Next(final)
		if err != nil {
			return
		}
		// Success is allowed only for a proof made with the password over
		// exactly this message.
		i := bytes.LastIndex(final, []byte(",p="))
		if done || i < 0 {
			t.Fatalf("client-final %q: done %v, server-final %q", final, done, serverFinal)
		}
		authMessage := rfcClientFirst[3:] + "," + rfcServerFirst + "," + string(final[:i])
		salt, _ := base64.StdEncoding.DecodeString(rfcSalt)
		if want := scramProof(t, "pencil", salt, 4096, authMessage); string(final[i+3:]) != want {
			t.Fatalf("client-final %q accepted; right proof is %s", final, want)
		}
	})
}

// zeroReader makes CRAM-MD5 challenges predictable.
type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func FuzzCRAMMD5(f *testing.F) {
	fx := fuzzFixture(f)
	fx.s.random = zeroReader{}
	sess, _ := fx.s.NewSASL(f.Context(), "CRAM-MD5", "h")
	challenge, _, _ := sess.Next(nil)
	right := hex.EncodeToString(cramDigest(fuzzPassword, string(challenge)))
	for _, seed := range []string{"alice " + right, "ALICE " + strings.ToUpper(right), "alice " + right[1:], "alice", " ", ""} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, resp []byte) {
		sess, _ := fx.s.NewSASL(t.Context(), "CRAM-MD5", "h")
		if ch, _, err := sess.Next(nil); err != nil || !bytes.Equal(ch, challenge) {
			t.Fatalf("challenge %q, %v", ch, err)
		}
		_, done, err := sess.Next(resp)
		if done != (err == nil) {
			t.Fatalf("done %v with err %v", done, err)
		}
		if done && !strings.HasSuffix(strings.ToLower(string(resp)), " "+right) {
			t.Fatalf("CRAM-MD5 %q succeeded as %q", resp, sess.Account().Address)
		}
	})
}
