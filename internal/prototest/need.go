package prototest

import (
	"os"
	"os/exec"
	"testing"
)

// RequireToolsEnv, when "1", makes NeedProgram fail instead of skip.
// .ci/run sets it after installing every program the tests use, so a
// third-party client test can never pass in CI by not running (TestMbsync
// and TestSwaks once skipped silently for a whole session).
const RequireToolsEnv = "POCHTA_REQUIRE_TOOLS"

// NeedProgram skips the test when program is not on PATH, naming the
// Debian package that has it, or fails it when RequireToolsEnv is set.
func NeedProgram(t testing.TB, program, debianPackage string) {
	t.Helper()
	if _, err := exec.LookPath(program); err == nil {
		return
	}
	msg := program + " is not installed (Debian package " + debianPackage + "; .ci/run installs it)"
	if os.Getenv(RequireToolsEnv) == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}
