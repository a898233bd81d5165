package migrate

import "testing"

// The expected values are what Dovecot 2.3.19's pop3 answered to UIDL for
// the same message and pop3_uidl_format.
func TestUIDLFormat(t *testing.T) {
	v := UIDLVars{UID: 1, UIDValidity: 1796051625, FileName: "1796051625.M887711P11373.vm,S=40,W=44"}
	for format, want := range map[string]string{
		"%08Xu%08Xv": "000000016b0d92a9",
		"%v.%u":      "1796051625.1",
		"%f":         "1796051625.M887711P11373.vm,S=40,W=44",
		"%g":         "1796051625.M887711P11373.vm,S=40,W=44",
		"%u":         "1",
		"x%Xv-%10u":  "x6b0d92a9-1",
		"%Lf":        "1796051625.m887711p11373.vm,s=40,w=44",
		"%Uf":        "1796051625.M887711P11373.VM,S=40,W=44",
		"%08u":       "00000001",
		"%Xu%%":      "1%",
		"%1.3f":      "796",
		"%08f":       "1796051625.M887711P11373.vm,S=40,W=44",
		"%3Xv":       "6b0",
		"%08XUv":     "6B0D92A9",
		"%5.5u":      "",
		"%02Xu-%Xv":  "01-6b0d92a9",
	} {
		f, err := ParseUIDLFormat(format)
		if err != nil {
			t.Errorf("%s: %v", format, err)
			continue
		}
		if got, err := f.Format(v); err != nil || got != want {
			t.Errorf("%s: %q %v, want %q", format, got, err, want)
		}
	}
	for _, bad := range []string{"%m", "%x", "%08", "%U08Xv", "%1000u", "%1.99999999999999999999u"} {
		if _, err := ParseUIDLFormat(bad); err == nil {
			t.Errorf("%s parsed", bad)
		}
	}
	f, _ := ParseUIDLFormat("%f")
	if _, err := f.Format(UIDLVars{UID: 1}); err == nil {
		t.Errorf("a %%f format worked without a file name")
	}
}

func FuzzUIDLFormat(f *testing.F) {
	f.Add("%08Xu%08Xv", "a")
	f.Add("%1.3f%%", "")
	f.Fuzz(func(t *testing.T, format, name string) {
		u, err := ParseUIDLFormat(format)
		if err != nil {
			return
		}
		u.Format(UIDLVars{UID: 7, UIDValidity: 9, FileName: name})
	})
}
