package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/pochta-mail/pochta/internal/store"
)

// RFC 7677 §3 example, user "user", password "pencil".
const (
	rfcClientFirst = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
	rfcServerNonce = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
	rfcSalt        = "W22ZaJ0SNY7soEsUEjb6gQ=="
	rfcServerFirst = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
	rfcClientFinal = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
	rfcServerFinal = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
)

// rfcFixture has user@example.org with the RFC 7677 salt and the RFC's
// server nonce injected.
func rfcFixture(t testing.TB) (*fixture, store.Account) {
	t.Helper()
	f := newFixture(t, Options{})
	salt, _ := base64.StdEncoding.DecodeString(rfcSalt)
	keys, err := deriveSCRAM("pencil", salt, 4096)
	if err != nil {
		t.Fatal(err)
	}
	c := f.credentials(t, "pencil", false)
	c.SCRAMSHA256 = keys.String()
	a, err := f.dir.CreateAccount(t.Context(), "user@example.org", c)
	if err != nil {
		t.Fatal(err)
	}
	f.s.scramNonce = func() string { return rfcServerNonce }
	return f, a
}

func TestSCRAMRFC7677Vector(t *testing.T) {
	f, user := rfcFixture(t)
	sess := exchangeSteps(t, f.s, "SCRAM-SHA-256",
		step{resp: nil, challenge: ""},
		step{resp: []byte(rfcClientFirst), challenge: rfcServerFirst},
		step{resp: []byte(rfcClientFinal), challenge: rfcServerFinal},
		step{resp: []byte{}, done: true})
	if sess.Account().ID != user.ID {
		t.Errorf("Account() = %+v", sess.Account())
	}
}

// scramClient computes the client side of an exchange (RFC 5802 §3).
type scramClient struct {
	gs2, bare, password string
}

func (c scramClient) first() string { return c.gs2 + c.bare }

// final answers serverFirst; it returns the client-final message and the
// server signature to expect.
func (c scramClient) final(t *testing.T, serverFirst string) (string, string) {
	t.Helper()
	var nonce, salt string
	iter := 0
	for _, a := range strings.Split(serverFirst, ",") {
		switch a[:2] {
		case "r=":
			nonce = a[2:]
		case "s=":
			salt = a[2:]
		case "i=":
			iter, _ = strconv.Atoi(a[2:])
		}
	}
	rawSalt, err := base64.StdEncoding.DecodeString(salt)
	if err != nil {
		t.Fatalf("server-first %q: %v", serverFirst, err)
	}
	keys, err := deriveSCRAM(c.password, rawSalt, iter)
	if err != nil {
		t.Fatal(err)
	}
	withoutProof := "c=" + base64.StdEncoding.EncodeToString([]byte(c.gs2)) + ",r=" + nonce
	authMessage := c.bare + "," + serverFirst + "," + withoutProof
	return withoutProof + ",p=" + scramProof(t, c.password, rawSalt, iter, authMessage),
		"v=" + base64.StdEncoding.EncodeToString(hmacSHA256(keys.serverKey, authMessage))
}

// scramProof is ClientKey XOR HMAC(H(ClientKey), AuthMessage), base64,
// computed without the code under test.
func scramProof(t testing.TB, password string, salt []byte, iter int, authMessage string) string {
	t.Helper()
	clientKey := hmacSHA256(pbkdf2SHA256(t, password, salt, iter), "Client Key")
	storedKey := sha256.Sum256(clientKey)
	sig := hmacSHA256(storedKey[:], authMessage)
	subtle.XORBytes(sig, sig, clientKey)
	return base64.StdEncoding.EncodeToString(sig)
}

func pbkdf2SHA256(t testing.TB, password string, salt []byte, iter int) []byte {
	t.Helper()
	// PBKDF2 with one block (dkLen = hLen), written out so the test does
	// not only trust the code under test.
	u := hmac.New(sha256.New, []byte(password))
	u.Write(salt)
	u.Write([]byte{0, 0, 0, 1})
	prev := u.Sum(nil)
	out := append([]byte(nil), prev...)
	for i := 1; i < iter; i++ {
		u := hmac.New(sha256.New, []byte(password))
		u.Write(prev)
		prev = u.Sum(nil)
		subtle.XORBytes(out, out, prev)
	}
	return out
}

// runSCRAM runs a whole exchange with client c and returns the error of
// the step that failed, or nil on success.
func runSCRAM(t *testing.T, s *Service, c scramClient) (store.Account, error) {
	t.Helper()
	sess, err := s.NewSASL(t.Context(), "SCRAM-SHA-256", "h")
	if err != nil {
		t.Fatal(err)
	}
	serverFirst, _, err := sess.Next([]byte(c.first()))
	if err != nil {
		return store.Account{}, err
	}
	final, wantSig := c.final(t, string(serverFirst))
	serverFinal, done, err := sess.Next([]byte(final))
	if err != nil {
		return store.Account{}, err
	}
	if done || string(serverFinal) != wantSig {
		t.Fatalf("server-final %q done %v, want %q", serverFinal, done, wantSig)
	}
	if _, done, err = sess.Next([]byte{}); !done || err != nil {
		t.Fatalf("last step: done %v err %v", done, err)
	}
	return sess.Account(), nil
}

func TestSCRAMRoundTrip(t *testing.T) {
	f := newFixture(t, Options{Separators: "+"})
	alice := f.addAccount(t, "alice@example.org", "pw", false)
	f.addAccount(t, "a,b=c@example.org", "pw", false)
	for _, c := range []scramClient{
		{gs2: "n,,", bare: "n=alice,r=fyko+d2lbbFgONRv9qkxdawL", password: "pw"},
		{gs2: "y,,", bare: "n=alice@example.org,r=x", password: "pw"},
		{gs2: "n,a=alice,", bare: "n=ALICE+example.org,r=x", password: "pw"},
		{gs2: "n,,", bare: "n=alice,r=x,x=extension", password: "pw"},
	} {
		a, err := runSCRAM(t, f.s, c)
		if err != nil || a.ID != alice.ID {
			t.Errorf("%s%s: %+v, %v", c.gs2, c.bare, a, err)
		}
	}
	a, err := runSCRAM(t, f.s, scramClient{gs2: "n,,", bare: "n=a=2Cb=3Dc,r=x", password: "pw"})
	if err != nil || a.Address != "a,b=c@example.org" {
		t.Errorf("escaped username: %+v, %v", a, err)
	}
}

func TestSCRAMFailures(t *testing.T) {
	f := newFixture(t, Options{})
	f.addAccount(t, "alice@example.org", "pw", false)
	if _, err := f.dir.CreateAccount(t.Context(), "nokeys@example.org", f.credentials(t, "pw", false)); err != nil {
		t.Fatal(err)
	}
	noKeys := f.credentials(t, "pw", false)
	noKeys.SCRAMSHA256 = ""
	if err := f.dir.SetCredentials(t.Context(), "nokeys@example.org", noKeys); err != nil {
		t.Fatal(err)
	}
	for _, c := range []scramClient{
		{gs2: "n,,", bare: "n=alice,r=x", password: "wrong"},
		{gs2: "n,,", bare: "n=nobody,r=x", password: "pw"},
		{gs2: "n,,", bare: "n=nokeys,r=x", password: "pw"},
		{gs2: "n,a=bob,", bare: "n=alice,r=x", password: "pw"},
	} {
		if _, err := runSCRAM(t, f.s, c); err != ErrFailed {
			t.Errorf("%s%s/%s: %v, want ErrFailed", c.gs2, c.bare, c.password, err)
		}
	}
	for _, first := range []string{
		"", "n", "n,", "n,,", "x,,n=alice,r=x",
		"p=tls-unique,,n=alice,r=x", // no -PLUS
		"n,,m=ext,n=alice,r=x",
		"n,,n=alice", "n,,n=alice,r=", "n,,n=alice,r=a,b", "n,,n=,r=x",
		"n,,r=x,n=alice", "n,,n=al=ice,r=x", "n,,n=alice,r=x\x01", "n,,n=alice,r=x,1=y",
		"n,a=,n=alice,r=x", "n,b=alice,n=alice,r=x",
		"n,,n=al ice,r=x",
	} {
		exchangeSteps(t, f.s, "SCRAM-SHA-256", step{resp: []byte(first), err: ErrFailed})
	}
}

// An unknown account gets a server-first that looks real and stays the
// same between attempts, so probing does not reveal which accounts exist.
func TestSCRAMUnknownAccountLooksReal(t *testing.T) {
	f := newFixture(t, Options{})
	first := func(user string) string {
		sess, _ := f.s.NewSASL(t.Context(), "SCRAM-SHA-256", "h")
		ch, _, err := sess.Next([]byte("n,,n=" + user + ",r=x"))
		if err != nil {
			t.Fatalf("%s: %v", user, err)
		}
		return string(ch)[strings.Index(string(ch), ",s="):]
	}
	a, b, c := first("nobody"), first("nobody"), first("other")
	if a != b || a == c || !strings.HasSuffix(a, ",i=4096") {
		t.Errorf("fake salts: %q %q %q", a, b, c)
	}
}

func TestSCRAMClientFinalChecks(t *testing.T) {
	f, _ := rfcFixture(t)
	proof := rfcClientFinal[strings.Index(rfcClientFinal, ",p="):]
	nonce := "rOprNGfwEbeRWgbNEkqO" + rfcServerNonce
	for _, final := range []string{
		"c=biws,r=" + nonce,                         // no proof
		"c=biws,r=" + nonce + ",p=AAAA",             // short proof
		"c=biws,r=" + nonce + ",p=!!" + proof[5:],   // bad base64
		"c=eSws,r=" + nonce + proof,                 // c= says "y,,"
		"c=biws,r=" + nonce + "x" + proof,           // nonce changed
		"c=biws,r=rOprNGfwEbeRWgbNEkqO" + proof,     // server nonce dropped
		"r=" + nonce + ",c=biws" + proof,            // order
		"c=biws,r=" + nonce + ",x=ext" + proof,      // extension changes AuthMessage: proof no longer matches
		"c=biws,r=" + nonce + ",1" + proof,          // bad extension
		"c=biws,r=" + nonce + proof + ",x=trailing", // p= must be last
	} {
		exchangeSteps(t, f.s, "SCRAM-SHA-256",
			step{resp: []byte(rfcClientFirst), challenge: rfcServerFirst},
			step{resp: []byte(final), err: ErrFailed})
	}
	// The client's last message must be empty.
	sess := exchangeSteps(t, f.s, "SCRAM-SHA-256",
		step{resp: []byte(rfcClientFirst), challenge: rfcServerFirst},
		step{resp: []byte(rfcClientFinal), challenge: rfcServerFinal},
		step{resp: []byte("x"), err: ErrFailed})
	if _, _, err := sess.Next([]byte{}); !errors.Is(err, errExchangeOver) {
		t.Errorf("Next after failure: %v", err)
	}
}
