import { router } from '../init.js';

export const apiKeysRouter = router({});
