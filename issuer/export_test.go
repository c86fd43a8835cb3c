package issuer

// HoldBcryptSlot takes one bcrypt slot until release is called, so tests
// can fill the semaphore without racing real sign-ins.
func (s *Server) HoldBcryptSlot() (release func()) {
	s.bcrypt <- struct{}{}
	return func() { <-s.bcrypt }
}
