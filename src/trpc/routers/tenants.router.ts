import { router } from '../init.js';

export const tenantsRouter = router({});
