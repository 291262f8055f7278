// ESLint flat config. It imports nothing, so the project needs no node_modules of its own:
// ESLint itself comes from the corral-js preset's Node env.
export default [
  {
    files: ["**/*.js"],
    languageOptions: { ecmaVersion: 2022, sourceType: "module" },
    rules: {
      "no-unused-vars": "error",
      eqeqeq: "error",
    },
  },
];
