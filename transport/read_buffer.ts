/**
 * The size of a connection's socket reads, one policy for the plaintext
 * HTTP/2 pump (`h2/socket.ts`) and the TLS 1.3 record layer
 * (`tls13/record.ts`): a read buffer starts small and grows once, to a
 * bounded size kept for the connection's life, when a read fills it.
 *
 * @module
 */

/** Bytes read from a socket at once, at first. */
export const READ_BUFFER_BYTES = 64 << 10;

/**
 * What the read buffer grows to (once per connection, and kept) when a read
 * fills it: a bulk upload then takes a socket's worth per read (a unix
 * socket holds about 208 KiB), not one event-loop round trip per 64 KiB.
 */
export const BULK_READ_BUFFER_BYTES = 256 << 10;
