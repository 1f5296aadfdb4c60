package kefu

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"
)

// A model id is the name, '@' and the first 12 hex digits of the ONNX
// file's SHA-256: tiny-zh's checksum from its README gives the id its KBs
// record.
func TestModelID(t *testing.T) {
	sum, err := hex.DecodeString("7cdf132379862a4b773ad1c282d14df8341c6ad26c2187159696908ec05f7ba9")
	if err != nil {
		t.Fatal(err)
	}
	id := NewModelID("tiny-zh", [sha256.Size]byte(sum))
	if id != "tiny-zh@7cdf13237986" || id.Name() != "tiny-zh" {
		t.Errorf("id %q, name %q", id, id.Name())
	}
	for in, name := range map[ModelID]string{"": "", "plain": "plain", "user@host/model@0123456789ab": "user@host/model"} {
		if got := in.Name(); got != name {
			t.Errorf("ModelID(%q).Name() = %q, want %q", in, got, name)
		}
	}
}
