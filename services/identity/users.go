package identity

import (
	"crypto/subtle"
	"fmt"
	"strconv"
)

// NumUsers is how many users exist: user0001 … user1000.
const NumUsers = 1000

// UserName returns the name of user i (1-based): "user0042".
func UserName(i int) string { return fmt.Sprintf("user%04d", i) }

// Password returns the password of user name: "pw-<name>".
func Password(name string) string { return "pw-" + name }

// ValidUser reports whether name is one of the generated users.
func ValidUser(name string) bool {
	if len(name) != 8 || name[:4] != "user" {
		return false
	}
	n, err := strconv.Atoi(name[4:])
	return err == nil && n >= 1 && n <= NumUsers && name[4] >= '0' && name[4] <= '9'
}

// CheckPassword reports whether password is name's, in constant time for a
// valid user.
func CheckPassword(name, password string) bool {
	if !ValidUser(name) {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(password), []byte(Password(name))) == 1
}
