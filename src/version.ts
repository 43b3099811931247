declare const __TASTY_VERSION__: string;
/** The package version, inlined by the build. */
export const VERSION: string = typeof __TASTY_VERSION__ === 'string' ? __TASTY_VERSION__ : '0.0.0-dev';
