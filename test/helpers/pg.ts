/** The PostgreSQL every test uses (each makes its own schema or database on it); CRONFLEET_TEST_PG overrides it. */
export const PG_ADMIN_URL = process.env.CRONFLEET_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/test';
