// Package nstest builds throw-away network namespaces, veth pairs and qdiscs
// for tests that need real kernel objects. Everything it creates is removed by
// t.Cleanup, even when the test fails. Test hosts use 198.18.0.0/15 only.
package nstest
