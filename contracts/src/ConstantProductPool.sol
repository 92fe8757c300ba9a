// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";

/// @title Constant-product (x * y = k) pool for one token pair.
/// @notice The output of a swap is Uniswap v2's formula with the fee in basis points:
/// `out = in * (10000 - feeBps) * reserveOut / (reserveIn * 10000 + in * (10000 - feeBps))`,
/// rounded down, so an off-chain quote computed with integers equals the on-chain result.
/// @dev Reserves are tracked internally (tokens sent without a call are ignored). Liquidity
/// shares are plain internal balances. Every state change emits Sync with the new reserves.
contract ConstantProductPool {
    using SafeERC20 for IERC20;

    uint256 private constant BPS = 10_000;

    address public immutable token0;
    address public immutable token1;
    uint16 public immutable feeBps;

    uint256 private _reserve0;
    uint256 private _reserve1;
    uint256 private _totalLiquidity;
    mapping(address => uint256) private _liquidity;

    event Sync(uint256 reserve0, uint256 reserve1);
    event Swap(
        address indexed sender, address indexed tokenIn, uint256 amountIn, uint256 amountOut, address indexed to
    );
    event LiquidityAdded(
        address indexed provider, address indexed to, uint256 amount0, uint256 amount1, uint256 liquidity
    );
    event LiquidityRemoved(
        address indexed provider, address indexed to, uint256 amount0, uint256 amount1, uint256 liquidity
    );

    error InvalidToken(address token);
    error IdenticalTokens(address token);
    error FeeTooHigh(uint16 feeBps);
    error ZeroAmount();
    error ZeroRecipient();
    error InsufficientLiquidity();
    error InsufficientOutput(uint256 amountOut, uint256 minAmountOut);
    error DeadlineExpired(uint256 deadline, uint256 blockTimestamp);
    error InsufficientLiquidityMinted();
    error InsufficientLiquidityBalance(uint256 balance, uint256 requested);
    error InsufficientLiquidityBurned();
    error TransferAmountMismatch(uint256 expected, uint256 received);

    constructor(address token0_, address token1_, uint16 feeBps_) {
        if (token0_ == address(0)) revert InvalidToken(token0_);
        if (token1_ == address(0)) revert InvalidToken(token1_);
        if (token0_ == token1_) revert IdenticalTokens(token0_);
        if (feeBps_ >= BPS) revert FeeTooHigh(feeBps_);
        token0 = token0_;
        token1 = token1_;
        feeBps = feeBps_;
    }

    function getReserves() external view returns (uint256 reserve0, uint256 reserve1) {
        return (_reserve0, _reserve1);
    }

    /// @notice Liquidity shares held by `owner`.
    function liquidityOf(address owner) external view returns (uint256) {
        return _liquidity[owner];
    }

    /// @notice Total liquidity shares outstanding.
    function totalLiquidity() external view returns (uint256) {
        return _totalLiquidity;
    }

    /// @notice What `swap` would pay for `amountIn` of `tokenIn` at the current reserves.
    function getAmountOut(uint256 amountIn, address tokenIn) public view returns (uint256 amountOut) {
        (uint256 reserveIn, uint256 reserveOut) = _orientedReserves(tokenIn);
        if (reserveIn == 0 || reserveOut == 0) revert InsufficientLiquidity();
        uint256 amountInWithFee = amountIn * (BPS - feeBps);
        amountOut = (amountInWithFee * reserveOut) / (reserveIn * BPS + amountInWithFee);
    }

    /// @notice Sell exactly `amountIn` of `tokenIn` (pulled from the caller) and send the
    /// output to `to`; reverts below `minAmountOut` or after `deadline`.
    function swap(address tokenIn, uint256 amountIn, uint256 minAmountOut, address to, uint256 deadline)
        external
        returns (uint256 amountOut)
    {
        if (block.timestamp > deadline) revert DeadlineExpired(deadline, block.timestamp);
        if (amountIn == 0) revert ZeroAmount();
        if (to == address(0)) revert ZeroRecipient();
        amountOut = getAmountOut(amountIn, tokenIn);
        if (amountOut == 0 || amountOut < minAmountOut) revert InsufficientOutput(amountOut, minAmountOut);

        bool zeroForOne = tokenIn == token0;
        address tokenOut = zeroForOne ? token1 : token0;
        if (zeroForOne) {
            _reserve0 += amountIn;
            _reserve1 -= amountOut;
        } else {
            _reserve1 += amountIn;
            _reserve0 -= amountOut;
        }
        emit Swap(msg.sender, tokenIn, amountIn, amountOut, to);
        emit Sync(_reserve0, _reserve1);

        _pull(tokenIn, amountIn);
        IERC20(tokenOut).safeTransfer(to, amountOut);
    }

    /// @notice Deposit both tokens; shares go to `to`. The first deposit sets the price and
    /// mints sqrt(amount0 * amount1); later ones mint in proportion to the smaller ratio
    /// (any excess of the other token stays in the pool).
    function addLiquidity(uint256 amount0, uint256 amount1, address to) external returns (uint256 liquidity) {
        if (amount0 == 0 || amount1 == 0) revert ZeroAmount();
        if (to == address(0)) revert ZeroRecipient();
        uint256 supply = _totalLiquidity;
        if (supply == 0) {
            liquidity = Math.sqrt(amount0 * amount1);
        } else {
            liquidity = Math.min((amount0 * supply) / _reserve0, (amount1 * supply) / _reserve1);
        }
        if (liquidity == 0) revert InsufficientLiquidityMinted();

        _totalLiquidity = supply + liquidity;
        _liquidity[to] += liquidity;
        _reserve0 += amount0;
        _reserve1 += amount1;
        emit LiquidityAdded(msg.sender, to, amount0, amount1, liquidity);
        emit Sync(_reserve0, _reserve1);

        _pull(token0, amount0);
        _pull(token1, amount1);
    }

    /// @notice Burn the caller's `liquidity` shares and send the pro-rata reserves to `to`.
    function removeLiquidity(uint256 liquidity, address to) external returns (uint256 amount0, uint256 amount1) {
        if (liquidity == 0) revert ZeroAmount();
        if (to == address(0)) revert ZeroRecipient();
        uint256 balance = _liquidity[msg.sender];
        if (balance < liquidity) revert InsufficientLiquidityBalance(balance, liquidity);
        uint256 supply = _totalLiquidity;
        amount0 = (liquidity * _reserve0) / supply;
        amount1 = (liquidity * _reserve1) / supply;
        if (amount0 == 0 && amount1 == 0) revert InsufficientLiquidityBurned();

        _liquidity[msg.sender] = balance - liquidity;
        _totalLiquidity = supply - liquidity;
        _reserve0 -= amount0;
        _reserve1 -= amount1;
        emit LiquidityRemoved(msg.sender, to, amount0, amount1, liquidity);
        emit Sync(_reserve0, _reserve1);

        if (amount0 > 0) IERC20(token0).safeTransfer(to, amount0);
        if (amount1 > 0) IERC20(token1).safeTransfer(to, amount1);
    }

    function _orientedReserves(address tokenIn) private view returns (uint256 reserveIn, uint256 reserveOut) {
        if (tokenIn == token0) return (_reserve0, _reserve1);
        if (tokenIn == token1) return (_reserve1, _reserve0);
        revert InvalidToken(tokenIn);
    }

    /// @dev Takes exactly `amount` of `token` from msg.sender; fee-on-transfer tokens are refused
    /// because the reserves would no longer match the balances.
    function _pull(address token, uint256 amount) private {
        IERC20 erc20 = IERC20(token);
        uint256 before = erc20.balanceOf(address(this));
        erc20.safeTransferFrom(msg.sender, address(this), amount);
        uint256 afterwards = erc20.balanceOf(address(this));
        uint256 received = afterwards > before ? afterwards - before : 0;
        if (received != amount) revert TransferAmountMismatch(amount, received);
    }
}
