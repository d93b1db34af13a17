import { checkCookie } from "../../handshake/cookie.ts";
import { CookieError, StartupError } from "../../errors.ts";
import { assert, assertThrows } from "../_util/assert.ts";

const cfg = { magicCookieKey: "BASIC_PLUGIN", magicCookieValue: "s3cret-value" };

Deno.test("checkCookie() passes with the right cookie", () => {
  checkCookie(cfg, (k) => (k === "BASIC_PLUGIN" ? "s3cret-value" : undefined));
});

Deno.test("checkCookie() throws CookieError for a missing or wrong cookie, never naming the value", () => {
  for (const value of [undefined, "", "wrong"]) {
    const err = assertThrows(
      () => checkCookie(cfg, () => value),
      CookieError,
      /This binary is a plugin/,
    );
    assert(!err.message.includes("s3cret-value"), err.message);
  }
});

Deno.test("checkCookie() throws StartupError when the plugin has no cookie configured", () => {
  assertThrows(
    () => checkCookie({ magicCookieKey: "", magicCookieValue: "" }, () => ""),
    StartupError,
    /Misconfigured plugin/,
  );
});
