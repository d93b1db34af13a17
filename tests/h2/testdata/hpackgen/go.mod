module hpackgen

go 1.24

require golang.org/x/net v0.38.0
