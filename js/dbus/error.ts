// error: a D-Bus error (an error reply's ERROR_NAME and message) as a JS Error. A method
// handler throws one to answer with that error name; conn.callMethod rejects with one when
// the reply is an error (docs/API.md, "Exported objects and method calls").
import { errorNameError } from './names.ts';
import { BRAND, brand, hasBrand } from '../brand.ts';

/** The standard error names the dispatcher answers with (org.freedesktop.DBus.Error.*). */
export const DBUS_ERROR = Object.freeze({
  /** no object is exported at the call's path */
  UnknownObject: 'org.freedesktop.DBus.Error.UnknownObject',
  /** the object has no such interface */
  UnknownInterface: 'org.freedesktop.DBus.Error.UnknownInterface',
  /** the interface (or, without one, the object) has no such method */
  UnknownMethod: 'org.freedesktop.DBus.Error.UnknownMethod',
  /** the call's signature is not the method's input signature */
  InvalidArgs: 'org.freedesktop.DBus.Error.InvalidArgs',
  /** the handler threw or rejected (with something other than a DBusError), or returned what its output signature cannot encode */
  Failed: 'org.freedesktop.DBus.Error.Failed',
});

/** A D-Bus error: `errorName` (e.g. 'org.freedesktop.DBus.Error.UnknownMethod') and its message. */
export class DBusError extends Error {
  /** `instanceof DBusError` holds for a DBusError of any copy of the package in the program (js/brand.ts): a handler's answers with its name */
  static override [Symbol.hasInstance](x: unknown): boolean {
    return this === DBusError ? hasBrand(x, BRAND.DBusError) : Function.prototype[Symbol.hasInstance].call(this, x);
  }
  /** the D-Bus error name (ERROR_NAME header field) */
  readonly errorName: string;
  /**
   * the error reply's body (by convention its first value is the message string). A handler
   * that throws a DBusError is answered with this body when it is one string, else with
   * [message] (dispatch's rule 6, docs/API.md); callMethod's rejection carries the whole body
   * of the error reply it received.
   */
  readonly body: readonly unknown[];
  constructor(errorName: string, message = '', body?: readonly unknown[]) {
    const bad = typeof errorName === 'string' ? errorNameError(errorName) : 'not a string';
    if (bad !== null) throw new TypeError(`DBusError: invalid error name ${JSON.stringify(errorName)}: ${bad}`);
    super(message);
    this.name = 'DBusError';
    this.errorName = errorName;
    this.body = body ?? [message];
  }
}
brand(DBusError, BRAND.DBusError);
