// corral-handlers-js: Corral handlers for ESLint and Prettier (README.md).
export { lint } from "./eslint.js";
export { format, checkFormat } from "./prettier.js";
