/** Hono environment of the app: the tenant that the auth middleware resolved. */
export interface AppEnv {
  Variables: {
    tenant: string;
  };
}
