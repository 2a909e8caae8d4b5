import { router } from '../init.js';

export const usersRouter = router({});
