import { router } from '../init.js';

export const auditRouter = router({});
