//go:build !race

package nstest

const raceBuild = false
