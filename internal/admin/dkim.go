package admin

import (
	"errors"
	"io/fs"
	"path/filepath"

	"github.com/pochta-mail/pochta/internal/msgauth"
)

// DKIMKeygen makes a DKIM key for a domain (its A-label form, the name
// outgoing mail is signed for) in keyDir/DOMAIN/SELECTOR.pem. An existing
// key is never overwritten.
func DKIMKeygen(keyDir, domain, selector, algo string) (msgauth.Key, error) {
	d, err := Domain(domain)
	if err != nil {
		return msgauth.Key{}, err
	}
	key, err := msgauth.GenerateKey(keyDir, d, selector, algo)
	if errors.Is(err, fs.ErrExist) {
		return key, errorf(Exists, "DKIM key %s for %s already exists (%s): choose another --selector",
			selector, d, filepath.Join(keyDir, d, selector+".pem"))
	}
	if err != nil {
		return key, wrap("making a DKIM key for "+d, err)
	}
	return key, nil
}
